#!/usr/bin/env bash
# Regenerates hack/tools/go.mod for a Kubernetes release: requires
# k8s.io/kubernetes@VERSION, replaces every staging module listed in
# k8s.io/kubernetes's own go.mod replace block (k8s.io/X => ./staging/...)
# by its published twin k8s.io/X v0.<minor>.<patch>, records the commands
# as go.mod tool directives, and tidies. Commit go.mod and go.sum after.
# Usage: hack/tools/gen-gomod.sh [v1.37.2]
set -euo pipefail
cd "$(dirname "$0")"
K8S_VERSION="${1:-v1.37.2}"
STAGING_VERSION="v0.${K8S_VERSION#v1.}"
TOOLS=(kube-apiserver kubectl kube-controller-manager kube-scheduler kube-proxy)

modfile="$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
staging="$(awk '/^replace \(/{r=1;next} r&&/^\)/{r=0} r&&/=> \.\/staging\//{print $1}' "$modfile")"
[ -n "$staging" ] || { echo "no staging modules found in $modfile" >&2; exit 1; }

# Drop old k8s.io replaces (a module may have left staging), then add ours.
for old in $(go mod edit -json | sed -n 's/.*"Path": "\(k8s\.io\/[^"]*\)".*/\1/p' | sort -u); do
  go mod edit -dropreplace="${old}" 2>/dev/null || true
done
for m in $staging; do go mod edit -replace="${m}=${m}@${STAGING_VERSION}"; done
echo "replaced $(echo "$staging" | wc -l) staging modules with ${STAGING_VERSION}"

go get "k8s.io/kubernetes@${K8S_VERSION}"
go get -tool $(printf 'k8s.io/kubernetes/cmd/%s ' "${TOOLS[@]}")
go mod tidy
