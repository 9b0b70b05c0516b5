#!/usr/bin/env bash
# gofmt, go vet and staticcheck (pinned; fetched through the Go module proxy).
set -euo pipefail
cd "$(dirname "$0")/.."
STATICCHECK_VERSION=v0.8.2
bad=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
if [ -n "$bad" ]; then
  echo "gofmt would change:"; echo "$bad"; exit 1
fi
go vet ./...
# The daemon links only the API groups it reads (kube/scheme.go): client-go's
# generated clientset would bring all ~50 back, +17 MB of binary, +8 MB RSS.
groups=$(go list -deps ./cmd/ipvs-proxy | grep '^k8s.io/api/' | tr '\n' ' ')
if [ "$groups" != "k8s.io/api/core/v1 k8s.io/api/discovery/v1 " ]; then
  echo "cmd/ipvs-proxy links API groups beyond core/v1 and discovery/v1: $groups"
  echo "(something imports k8s.io/client-go/kubernetes or a typed client; see kube/scheme.go)"; exit 1
fi
go run "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" ./...
echo "lint: ok (${SECONDS}s)"
