#!/usr/bin/env bash
# Builds the test control plane from source (Go module proxy only) into
# _output/tools/bin/, once: a tool is rebuilt only when its cache key changes
# (its module's go.mod/go.sum, its local sources, this script).
#
#   hack/tools.sh                 # everything, in the order below
#   hack/tools.sh core            # kube-apiserver etcd kubectl controlplane
#   hack/tools.sh kubectl etcd    # just these
#   hack/tools.sh kube-proxy      # kube-proxy, for the side-by-side runs (never by default)
#
# Env: TOOLS_BIN (default _output/tools/bin), TOOLS_GO_P (go build -p, default 2).
# Needs only Go (>= the go line of hack/tools/go.mod); CGO is off, so no C
# compiler is needed. Cold kube-apiserver build: ~5 min, ~3 GB RSS on 2 cores.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${ROOT}/hack/tools"
BIN="${TOOLS_BIN:-${ROOT}/_output/tools/bin}"
GO_P="${TOOLS_GO_P:-2}"

CORE=(kube-apiserver etcd kubectl controlplane)
EXTRA=(kube-controller-manager kube-scheduler coredns)

# name -> "module-dir package"
pkg_of() {
  case "$1" in
    kube-apiserver|kubectl|kube-controller-manager|kube-scheduler|kube-proxy)
      echo "${TOOLS} k8s.io/kubernetes/cmd/$1" ;;
    etcd)         echo "${TOOLS} ./etcd" ;;
    controlplane) echo "${TOOLS} ./controlplane" ;;
    coredns)      echo "${TOOLS}/coredns ." ;;
    *) echo "unknown tool: $1 (known: ${CORE[*]} ${EXTRA[*]} kube-proxy)" >&2; return 1 ;;
  esac
}

k8s_version() {
  awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}
       $1=="require" && $2=="k8s.io/kubernetes" {print $3; exit}' "${TOOLS}/go.mod"
}

K8S_VERSION="$(k8s_version)"
[[ "${K8S_VERSION}" =~ ^v([0-9]+)\.([0-9]+)\. ]] || { echo "cannot read k8s.io/kubernetes version from ${TOOLS}/go.mod" >&2; exit 1; }
MAJOR="${BASH_REMATCH[1]}"; MINOR="${BASH_REMATCH[2]}"

# kubectl (and the servers' /version) refuse the default v0.0.0-master.
LDFLAGS="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X ${p}.gitVersion=${K8S_VERSION} -X ${p}.gitMajor=${MAJOR} -X ${p}.gitMinor=${MINOR}"
  LDFLAGS+=" -X ${p}.gitTreeState=clean -X ${p}.buildDate=1970-01-01T00:00:00Z"
done

# Cache key: module files + local sources of the tool + this script.
cache_key() {
  local dir="$1" pkg="$2"
  {
    cat "${dir}/go.mod" "${dir}/go.sum" "${BASH_SOURCE[0]}"
    go env GOVERSION
    if [[ "${pkg}" == ./* || "${pkg}" == . ]]; then
      find "${dir}/${pkg}" -maxdepth 1 -name '*.go' -print0 | sort -z | xargs -0 cat
    fi
  } | sha256sum | cut -d' ' -f1
}

build_one() {
  local name="$1" dir pkg key stamp out start rc
  read -r dir pkg < <(pkg_of "${name}")
  out="${BIN}/${name}"
  stamp="${BIN}/.${name}.key"
  key="$(cache_key "${dir}" "${pkg}")"
  if [[ -x "${out}" && -f "${stamp}" && "$(cat "${stamp}")" == "${key}" ]]; then
    echo "tools: ${name}: up to date (${out})"
    return 0
  fi
  echo "tools: ${name}: building ${pkg} (k8s ${K8S_VERSION}, -p ${GO_P})"
  start="$(date +%s)"
  local cmd=(go build -p "${GO_P}" -trimpath -buildvcs=false -ldflags "${LDFLAGS}" -o "${out}.tmp" "${pkg}")
  rc=0
  if [[ -x /usr/bin/time ]]; then
    (cd "${dir}" && CGO_ENABLED=0 /usr/bin/time -f "tools: ${name}: peak RSS %M KB, cpu user %Us sys %Ss" "${cmd[@]}") || rc=$?
  else
    (cd "${dir}" && CGO_ENABLED=0 "${cmd[@]}") || rc=$?
  fi
  if (( rc != 0 )); then
    rm -f "${out}.tmp"
    echo "tools: ${name}: FAILED (exit ${rc}) after $(( $(date +%s) - start ))s" >&2
    return "${rc}"
  fi
  mv -f "${out}.tmp" "${out}"
  echo "${key}" > "${stamp}"
  echo "tools: ${name}: built in $(( $(date +%s) - start ))s -> ${out}"
}

main() {
  local want=()
  if (( $# == 0 )); then want=("${CORE[@]}" "${EXTRA[@]}")
  else
    for a in "$@"; do
      case "${a}" in
        core)  want+=("${CORE[@]}") ;;
        extra) want+=("${EXTRA[@]}") ;;
        all)   want+=("${CORE[@]}" "${EXTRA[@]}") ;;
        *)     pkg_of "${a}" >/dev/null; want+=("${a}") ;;
      esac
    done
  fi
  mkdir -p "${BIN}"
  local t0; t0="$(date +%s)"
  for n in "${want[@]}"; do build_one "${n}"; done
  echo "tools: done in $(( $(date +%s) - t0 ))s; binaries in ${BIN}"
}

main "$@"
