#!/usr/bin/env bash
# make bench: the Go benchmarks of the pure pipeline and the fake-kernel
# syncs, then the side-by-side run in the sandbox VM: for each N, the
# `ipvsadm -R` floor, kube-proxy --proxy-mode=ipvs and ipvs-proxy in turn,
# against the test API server with the same generated objects (N Services,
# even ones NodePort and odd ones ClusterIP, x 10 ready endpoints), each in
# a fresh network namespace (hack/bench-guest.sh). Output in _output/bench/:
# go-bench.txt, N/ (per contender .env, -latency.json, -rss.tsv, .log), bench.md (the
# table) and bench.png (the plot), drawn by hack/benchplot.
#
#   hack/bench.sh
#
# Environment:
#   BENCH_N="1000 10000"   Service counts (50000 works too, given time)
#   BENCH_IDLE=300         seconds of idle CPU measurement per proxy
#   BENCH_LIMIT=1200       cut a proxy's cold start after this many seconds
#   BENCH_CHANGES=50       changes of each kind in the latency test
#   BENCH_WHO="floor kube-proxy ipvs-proxy"   contenders, in this order
#   BENCH_GO=1             run the Go benchmarks (0: skip); BENCHTIME=3x, BENCH_RE=.
#   BENCH_VM=1             run the side-by-side part (0: Go benchmarks only)
#   BENCH_MEM=6144         guest memory (MB)
#   BENCH_PROFILE=0        1: pprof CPU profiles of ipvs-proxy's cold start
#                          (BENCH_PROFILE_COLD=120 s) and idle window, and a heap profile
#   BENCH_OUT_DIR=_output/bench   results folder
#   BENCH_PROXY_ENV=""     environment of ipvs-proxy alone, e.g. "GOGC=50 GOMEMLIMIT=100MiB"
#   E2E_PORT=16443         API server port
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${BENCH_OUT_DIR:-$ROOT/_output/bench}
PORT=${E2E_PORT:-16443}
T0=$(date +%s)
step() { echo "bench: [$(( $(date +%s) - T0 ))s] $*" >&2; }
fail() { echo "bench: FAIL: $*" >&2; exit 1; }
mkdir -p "$OUT"

if [[ ${BENCH_GO:-1} == 1 ]]; then
  step "Go benchmarks (desired, state, controllers)"
  go test -run '^$' -bench "${BENCH_RE:-.}" -benchmem -benchtime "${BENCHTIME:-3x}" -timeout 0 ./desired/ ./state/ ./controllers/ | tee "$OUT/go-bench.txt"
fi
[[ ${BENCH_VM:-1} == 1 ]] || exit 0

step "dependencies (ipvsadm, socat, curl, qemu, ...)"
hack/install-deps.sh || fail "missing Debian packages (see above)"
step "build ipvs-proxy, benchdrive, benchplot; tools (core, kube-proxy) if missing"
# The same set as make e2e (core: the control plane and the kubectl it
# applies its RBAC with), plus kube-proxy; hack/tools.sh skips what is built.
hack/tools.sh core kube-proxy || fail "hack/tools.sh core kube-proxy"
# Binaries of its own: the guest reads them over 9p with a loose cache, so a
# binary rebuilt under a running guest (make build, make e2e) would crash it.
BIN=${BENCH_BIN_DIR:-$OUT/bin} # another folder for a second bench run at the same time
go build -p 2 -o "$BIN/ipvs-proxy" ./cmd/ipvs-proxy
go build -p 2 -o "$BIN/benchdrive" ./hack/benchdrive
(cd hack/benchplot && go build -o "$BIN/benchplot" .)

CP_PID=
stop_cp() {
  if [[ -n $CP_PID ]] && kill -0 "$CP_PID" 2>/dev/null; then
    kill -TERM "$CP_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$CP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CP_PID" 2>/dev/null || true
  fi
  CP_PID=
}
trap stop_cp EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for n in ${BENCH_N:-1000 10000}; do
  dir=$OUT/$n
  rm -rf "$dir"
  mkdir -p "$dir"
  step "N=$n: control plane on 127.0.0.1:$PORT (fresh etcd)"
  _output/tools/bin/controlplane --dir "$dir/controlplane" --port "$PORT" \
    --service-cluster-ip-range 10.96.0.0/12 --service-node-port-range 30000-60000 \
    >"$dir/controlplane.out" 2>&1 &
  CP_PID=$!
  for _ in $(seq 1800); do
    grep -q '^READY' "$dir/controlplane.out" 2>/dev/null && break
    kill -0 "$CP_PID" 2>/dev/null || break
    sleep 0.1
  done
  grep -q '^READY' "$dir/controlplane.out" || { tail -n 20 "$dir/controlplane.out" >&2; fail "control plane"; }
  step "N=$n: generate $n Services and EndpointSlices"
  "$BIN/benchdrive" gen -kubeconfig "$dir/controlplane/admin.kubeconfig" -n "$n" \
    -floor "$dir/floor.ipvsadm" -expect "$dir/expect" || fail "benchdrive gen"
  step "N=$n: sandbox (expect $(cat "$dir/expect") VS RS)"
  set +e
  SANDBOX_TIMEOUT=${BENCH_TIMEOUT:-14400} hack/sandbox --mem "${BENCH_MEM:-6144}" --cpus 2 --net-fwd "$PORT" --rw "$dir" \
    -e BENCH_N="$n" -e BENCH_OUT="$dir" -e BENCH_PORT="$PORT" \
    -e BENCH_KUBECONFIG="$dir/controlplane/admin-guest.kubeconfig" \
    -e BENCH_BIN="$BIN" -e BENCH_KUBE_PROXY="$ROOT/_output/tools/bin/kube-proxy" \
    -e BENCH_IDLE="${BENCH_IDLE:-300}" -e BENCH_LIMIT="${BENCH_LIMIT:-1200}" \
    -e BENCH_CHANGES="${BENCH_CHANGES:-50}" -e BENCH_WHO="${BENCH_WHO:-floor kube-proxy ipvs-proxy}" \
    -e BENCH_LAT_LIMIT="${BENCH_LAT_LIMIT:-900}" \
    -e BENCH_PROFILE="${BENCH_PROFILE:-0}" -e BENCH_PROFILE_COLD="${BENCH_PROFILE_COLD:-120}" \
    -e BENCH_PROXY_ENV="${BENCH_PROXY_ENV:-}" \
    -- hack/bench-guest.sh 2>&1 | tee "$dir/guest.log"
  rc=${PIPESTATUS[0]}
  set -e
  stop_cp
  rm -rf "$dir/controlplane/etcd" "$dir/floor.ipvsadm"
  [[ $rc == 0 ]] || fail "N=$n: sandbox exit $rc (log $dir/guest.log)"
done

step "table and plot"
"$BIN/benchplot" -dir "$OUT" -md "$OUT/bench.md" -png "$OUT/bench.png"
cat "$OUT/bench.md"
step "done in $(( $(date +%s) - T0 ))s: $OUT/bench.md, $OUT/bench.png"
