#!/usr/bin/env bash
# End-to-end tests (make e2e): a real API server on the host, ipvs-proxy and
# the kernel adapter tests in the hack/sandbox VM (kernel with IPVS).
#
#   hack/e2e.sh
#
# Steps: hack/install-deps.sh, hack/tools.sh core, build _output/bin/ipvs-proxy
# and the test binaries (_output/e2e/*.test), start the control plane on
# 127.0.0.1:$E2E_PORT, run hack/e2e-guest.sh in the sandbox, summarize.
#
# Environment:
#   E2E_PORT=16443      API server port (forwarded into the guest)
#   E2E_RUN=REGEXP      only these e2e tests (-test.run)
#   E2E_SKIP_KERNEL=1   skip the kernel tests (ipvs ipset netif rules cleanup conntrack controllers)
#   E2E_FULL=1          also the slow rules tests (legacy iptables backend)
#   E2E_KEEP=1          keep the control plane running after the tests
#                       (KUBECONFIG=_output/e2e/controlplane/admin.kubeconfig)
#   E2E_TIMEOUT=SECS    kill the VM after SECS (default 3000; a quiet run takes ~1150)
#   E2E_NOT_RUN=REGEXP  e2e tests left out (-test.skip; default: none)
#   E2E_CAPTURE=1       TestTakeOverFromKubeProxy also records packets (tcpdump,
#                       apt-get install tcpdump), conntrack events and IPVS
#                       connection entries into the artifacts
#   E2E_IMAGE=0         run the plain build instead of the image's ipvs-proxy
#                       and iptables tools (default: hack/image.sh --check first)
#   E2E_CONFORMANCE=0   skip the differential suite against kube-proxy
#                       (test/conformance; needs hack/tools.sh kube-proxy)
#   E2E_SKIP_E2E=1      skip the e2e tests (hack/conformance.sh: only the suite)
#   E2E_BULK=N          Services of TestReliabilityKillDuringColdSync (default 2000)
#   E2E_CHURN_SECONDS=N length of TestReliabilityChurn (default 120)
# (E2E_* variables reach the guest: hack/sandbox passes them.)
# TestReliabilityAPIServerDown takes the API server away for 60 s from inside
# the guest, as a stopped one looks to its clients: an iptables rule in the
# guest rejects connections to 10.0.2.100:$E2E_PORT with a TCP reset and
# `ss -K` resets the open ones; deleting the rule brings it back. (Stopping
# kube-apiserver on the host is no option: the controlplane launcher ends
# the whole control plane when it exits, and SIGSTOP leaves connections
# hanging instead of refused.)
# Artifacts (logs, kernel state, objects, plans): _output/e2e/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${E2E_PORT:-16443}
OUT=$ROOT/_output/e2e
ART=$OUT/artifacts
CP_DIR=$OUT/controlplane
T0=$(date +%s)
step() { echo "e2e: [$(( $(date +%s) - T0 ))s] $*" >&2; }
fail() { echo "e2e: FAIL: $*" >&2; exit 1; }

step "dependencies"
if ! hack/install-deps.sh; then
  fail "missing Debian packages (see above: run the printed apt-get command as root, or run make e2e as root)"
fi

step "tools (kube-apiserver etcd kubectl controlplane)"
hack/tools.sh core || fail "hack/tools.sh core"
if [[ ${E2E_CONFORMANCE:-1} == 1 ]]; then
  step "tools (kube-proxy, for test/conformance)"
  hack/tools.sh kube-proxy || fail "hack/tools.sh kube-proxy"
fi

step "build ipvs-proxy and test binaries"
mkdir -p "$ROOT/_output/bin" "$OUT"
go build -p 2 -o _output/bin/ipvs-proxy ./cmd/ipvs-proxy || fail "go build ./cmd/ipvs-proxy"
for pkg in ipvs ipset netif rules cleanup conntrack controllers test/e2e test/conformance; do
  name=${pkg//\//-}
  go test -p 2 -c -o "$OUT/$name.test" "./$pkg" || fail "go test -c ./$pkg"
done

# The e2e runs the image's ipvs-proxy and iptables tools (E2E_IMAGE=0: the
# plain build and the machine's iptables).
PROXY_BIN=$ROOT/_output/bin/ipvs-proxy
PATH_PREFIX=
if [[ ${E2E_IMAGE:-1} == 1 ]]; then
  step "image: hack/image.sh --check"
  hack/image.sh --check >"$OUT/image.log" 2>&1 || { tail -n 30 "$OUT/image.log" >&2; fail "hack/image.sh --check (log: $OUT/image.log)"; }
  grep -E '^image (ipvs-proxy|check)' "$OUT/image.log" >&2 || true
  PROXY_BIN=$ROOT/_output/image/rootfs/ipvs-proxy
  PATH_PREFIX=$ROOT/_output/image/rootfs/usr/sbin
fi

rm -rf "$ART" "$CP_DIR"
mkdir -p "$ART" "$CP_DIR"

CP_PID=
stop_cp() {
  if [[ -n $CP_PID ]] && kill -0 "$CP_PID" 2>/dev/null; then
    if [[ ${E2E_KEEP:-0} == 1 ]]; then
      echo "e2e: control plane kept running (pid $CP_PID): KUBECONFIG=$CP_DIR/admin.kubeconfig; stop with kill $CP_PID" >&2
      return
    fi
    kill -TERM "$CP_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$CP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CP_PID" 2>/dev/null || true
  fi
}
trap stop_cp EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "control plane on 127.0.0.1:$PORT"
# Dual-stack Service range (test/conformance has IPv6 and dual-stack
# Services; single-stack ones still get IPv4). The launcher's own
# --service-cluster-ip-range takes one CIDR; the later apiserver flag wins.
_output/tools/bin/controlplane --dir "$CP_DIR" --port "$PORT" \
  --apiserver-arg=--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/112 >"$ART/controlplane.out" 2>&1 &
CP_PID=$!
ready=0
for _ in $(seq 1800); do # 180 s
  if grep -q '^READY' "$ART/controlplane.out" 2>/dev/null; then ready=1; break; fi
  kill -0 "$CP_PID" 2>/dev/null || break
  sleep 0.1
done
if [[ $ready != 1 ]]; then
  tail -n 30 "$ART/controlplane.out" >&2 || true
  fail "control plane not ready (log: $ART/controlplane.out, $CP_DIR/logs/)"
fi
step "control plane $(grep '^READY' "$ART/controlplane.out")"

step "manifests: kubectl apply -k config/default --dry-run=server"
KUBECTL=_output/tools/bin/kubectl hack/manifests-check.sh "$CP_DIR/admin.kubeconfig" >"$ART/manifests.log" 2>&1 ||
  { cat "$ART/manifests.log" >&2; fail "server-side dry run of config/default (log: $ART/manifests.log)"; }
tail -n 1 "$ART/manifests.log" >&2

step "sandbox: hack/e2e-guest.sh"
set +e
SANDBOX_TIMEOUT=${SANDBOX_TIMEOUT:-${E2E_TIMEOUT:-3000}} hack/sandbox --mem 3072 --net-fwd "$PORT" --rw "$ART" \
  -e E2E_ROOT="$ROOT" \
  -e E2E_ARTIFACTS="$ART" \
  -e E2E_BIN="$OUT" \
  -e E2E_KUBECONFIG="$CP_DIR/ipvs-proxy-guest.kubeconfig" \
  -e E2E_ADMIN_KUBECONFIG="$CP_DIR/admin-guest.kubeconfig" \
  -e E2E_KUBECTL="$ROOT/_output/tools/bin/kubectl" \
  -e E2E_IPVS_PROXY="$PROXY_BIN" \
  -e E2E_KUBE_PROXY="$ROOT/_output/tools/bin/kube-proxy" \
  -e E2E_PATH_PREFIX="$PATH_PREFIX" \
  -- hack/e2e-guest.sh 2>&1 | tee "$ART/guest.log"
rc=${PIPESTATUS[0]}
set -e

echo
echo "================ e2e summary ================"
if [[ -s $ART/summary.txt ]]; then
  cat "$ART/summary.txt"
else
  echo "(no summary from the guest: see $ART/guest.log)"
fi
echo "wall time: $(( $(date +%s) - T0 ))s; artifacts: $ART"
case $rc in
  0) echo "e2e: PASS" ;;
  124) echo "e2e: FAIL: sandbox timeout" ;;
  125) echo "e2e: FAIL: sandbox failure (exit 125)" ;;
  *) echo "e2e: FAIL (exit $rc)" ;;
esac
exit "$rc"
