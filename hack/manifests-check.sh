#!/usr/bin/env bash
# Server-side dry run of the deployment manifests (config/default) against a
# running API server: kubectl apply -k config/default --dry-run=server.
#
#   hack/manifests-check.sh KUBECONFIG
#
# hack/e2e.sh calls it with the test control plane's admin kubeconfig.
set -euo pipefail
cd "$(dirname "$0")/.."
KUBECONFIG_FILE=${1:?usage: hack/manifests-check.sh KUBECONFIG}
KUBECTL=${KUBECTL:-_output/tools/bin/kubectl}
[[ -x $KUBECTL ]] || KUBECTL=kubectl
out=$("$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" apply -k config/default --dry-run=server 2>&1) || {
  echo "$out" >&2
  echo "manifests: FAIL: kubectl apply -k config/default --dry-run=server" >&2
  exit 1
}
echo "$out"
for kind in serviceaccount/ipvs-proxy clusterrole.rbac.authorization.k8s.io/ipvs-proxy \
  clusterrolebinding.rbac.authorization.k8s.io/ipvs-proxy configmap/ipvs-proxy daemonset.apps/ipvs-proxy; do
  grep -q "^$kind " <<<"$out" || { echo "manifests: FAIL: $kind not in the dry run" >&2; exit 1; }
done
echo "manifests: server-side dry run of config/default: PASS"
