# Targets only call hack/*.sh (or go); see README.md.
SHELL := /usr/bin/env bash
GO ?= go

.PHONY: build unit fuzz test lint e2e conformance demo bench tools sandbox-shell clean image

build:
	$(GO) build -o _output/bin/ipvs-proxy ./cmd/ipvs-proxy

unit:
	hack/unit.sh

fuzz:
	hack/fuzz.sh

lint:
	hack/lint.sh

test: lint unit fuzz e2e

e2e:
	hack/e2e.sh
	hack/demo.sh --check

conformance:
	hack/conformance.sh

demo:
	@hack/demo.sh

bench:
	hack/bench.sh

tools:
	hack/tools.sh

image:
	hack/image.sh

sandbox-shell:
	hack/sandbox -- /bin/sh

clean:
	rm -rf _output
