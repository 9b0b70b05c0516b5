#!/usr/bin/env bash
# Unit tests: pure tables, fakes, golden files; race detector on. Kernel tests
# in the same packages skip here (no IPVS on the host) and run in the sandbox
# through hack/e2e.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 ./...
echo "unit: ok (${SECONDS}s)"
