#!/usr/bin/env bash
# Runs the test control plane in the foreground (Ctrl-C / SIGTERM stops it).
# Builds the needed tools first if missing (see hack/tools.sh).
#
#   hack/controlplane.sh [--dir _output/controlplane] [--port 6443] [--with-controllers] ...
#
# Prints KEY=VALUE lines (kubeconfig paths, also saved to <dir>/controlplane.env)
# and then a line starting with READY.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
BIN="${TOOLS_BIN:-${ROOT}/_output/tools/bin}"
want=(core)
for a in "$@"; do
  [[ "${a}" == --with-controllers* ]] && want+=(kube-controller-manager kube-scheduler)
done
hack/tools.sh "${want[@]}" >&2
exec "${BIN}/controlplane" --bin-dir "${BIN}" --rbac-dir "${ROOT}/config/rbac" "$@"
