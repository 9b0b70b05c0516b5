#!/usr/bin/env bash
# hack/demo.sh (`make demo`): the NodePort walkthrough on a three-node cluster
# in the sandbox VM, with ipvs-proxy doing the work.
#
#   hack/demo.sh            show every command and its output, assert every
#                           promise, end with a one-line VERDICT
#   hack/demo.sh --check    (or E2E=1) the same assertions, quiet: only the
#                           promise lines and the verdict (for make e2e)
#
# Host side: builds ipvs-proxy and the node agent (hack/agent), the tools if
# missing (hack/tools.sh), starts the control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) on 127.0.0.1:$DEMO_PORT, then boots
# the sandbox with that port forwarded and runs hack/demo.d/guest.sh in it.
# Logs: _output/demo/logs/. Exit status: 0 when every promise holds.
#
# ipvs-proxy itself is deployed as users do, `kubectl apply -k` of
# config/default (hack/demo.d/ipvs-proxy: its ConfigMap for the demo), from
# the image `make image` builds (hack/image.sh), which the node agents run.
# The API server reaches the agents' kubelet log endpoints (kubectl logs) at
# host 127.0.0.1:DEMO_KUBELET_PORT+0..2, forwarded into the VM, with a client
# certificate from a throw-away CA (_output/demo/kubelet-pki).
#
# Environment: DEMO_PORT (26443), DEMO_KUBELET_PORT (DEMO_PORT+1000: three
# ports from there), DEMO_SCALE_TIMEOUT (120 s), DEMO_TIMEOUT (900 s: the
# whole guest run; then the logs' tails are printed, and in check mode the
# run is retried once from scratch), SANDBOX_* (see
# hack/sandbox), GOFLAGS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
T0=$(date +%s)

CHECK=0
[[ ${E2E:-0} == 1 ]] && CHECK=1
for a in "$@"; do
  case $a in
    --check) CHECK=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument $a" >&2; exit 2 ;;
  esac
done
PORT=${DEMO_PORT:-26443}
KUBELET_PORT=${DEMO_KUBELET_PORT:-$((PORT + 1000))}
OUT=$REPO/_output/demo
log() { echo "demo: $*" >&2; }

# --- build ----------------------------------------------------------------------------
# The demo needs these tools (not kube-proxy); a cold first run builds them
# from source (Go module proxy only), which is most of its time. Rough
# cold-cache minutes on 2 cores per tool (a fresh machine spent ~22 min on
# all of them): the first Kubernetes binary compiles the shared dependencies.
DEMO_TOOLS=(kube-apiserver etcd kubectl controlplane kube-controller-manager kube-scheduler coredns)
declare -A TOOL_MIN=([kube-apiserver]=8 [etcd]=2 [kubectl]=3 [controlplane]=0
  [kube-controller-manager]=4 [kube-scheduler]=2 [coredns]=3)
MISSING=() MISSING_MIN=0
for t in "${DEMO_TOOLS[@]}"; do
  if [[ ! -x _output/tools/bin/$t ]]; then MISSING+=("$t"); MISSING_MIN=$((MISSING_MIN + TOOL_MIN[$t])); fi
done
if (( ${#MISSING[@]} > 0 )); then
  log "cold first run: about $((MISSING_MIN + 4)) min on 2 cores, ~${MISSING_MIN} of them building the control plane from source once (${MISSING[*]}; hack/tools.sh, cached in _output/tools/bin); later runs take 3-6 min (up to ~15 under heavy load)"
else
  log "the control plane is built (_output/tools/bin); this run takes 3-6 min on 2 cores, up to ~15 under heavy load (a cold first run: ~26 min, ~22 of them building the control plane from source once)"
fi
log "building ipvs-proxy, its image (hack/image.sh) and the node agent"
go build -p 2 -o _output/bin/ipvs-proxy ./cmd/ipvs-proxy
go build -p 2 -o _output/bin/demo-agent ./hack/agent
mkdir -p _output
hack/image.sh >_output/image.log 2>&1 || { cat _output/image.log >&2; echo "VERDICT: FAILED: make image"; exit 1; }
log "$(grep -m1 'docker load' _output/image.log || tail -n 1 _output/image.log)"
i=0
for t in "${MISSING[@]}"; do
  i=$((i + 1))
  m=${TOOL_MIN[$t]}; (( m > 0 )) || m="<1"
  log "building the control plane [$i/${#MISSING[@]}]: $t (expected ~$m min on 2 cores with a cold Go cache)"
  t1=$(date +%s)
  hack/tools.sh "$t" >"$REPO/_output/tools-build-$t.log" 2>&1 || { tail -n 20 "$REPO/_output/tools-build-$t.log" >&2; echo "VERDICT: FAILED: building $t (log: _output/tools-build-$t.log)"; exit 1; }
  log "built $t in $(( $(date +%s) - t1 ))s"
done

# GNU wget for the walkthrough's `wget -O- http://web-nodeport:80` from a pod
# (busybox's static wget crashes in the guest); the sandbox's own packages
# (curl, ipvsadm, iproute2, ...) come from hack/install-deps.sh.
if ! command -v wget >/dev/null || [[ $(readlink -f "$(command -v wget)") == */busybox ]]; then
  if [[ $(id -u) == 0 ]]; then
    log "installing GNU wget"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wget; } >/dev/null
  else
    echo "demo: GNU wget missing; run: sudo apt-get install -y wget" >&2; exit 1
  fi
fi

# --- control plane on the host ----------------------------------------------------------------
CP_PID=
cleanup() {
  if [[ -n $CP_PID ]]; then
    kill "$CP_PID" 2>/dev/null || true
    wait "$CP_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

# attempt: a fresh control plane and VM, the guest's walkthrough; returns
# the guest's exit code (124: DEMO_TIMEOUT passed).
attempt() {
  rm -rf "$OUT"
  mkdir -p "$OUT/logs"
  # The API server's client certificate for the kubelet log endpoints.
  KP=$OUT/kubelet-pki
  mkdir -p "$KP"
  {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=demo-kubelet-client-ca \
      -keyout "$KP/ca.key" -out "$KP/ca.crt"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=kube-apiserver-kubelet-client \
      -keyout "$KP/client.key" -out "$KP/client.csr"
    openssl x509 -req -in "$KP/client.csr" -CA "$KP/ca.crt" -CAkey "$KP/ca.key" -CAcreateserial -days 2 \
      -extfile <(echo "extendedKeyUsage=clientAuth") -out "$KP/client.crt"
  } >"$OUT/logs/kubelet-pki.log" 2>&1 || { cat "$OUT/logs/kubelet-pki.log" >&2; echo "VERDICT: FAILED: kubelet client certificate"; exit 1; }
  log "starting the control plane on 127.0.0.1:$PORT (log: _output/demo/logs/controlplane.log)"
  # The default controllers plus the DaemonSet controller (ipvs-proxy's pods).
  CONTROLLERS=deployment-controller,replicaset-controller,daemonset-controller,endpointslice-controller,endpointslice-mirroring-controller,endpoints-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,namespace-controller,garbage-collector-controller
  # Dual-stack Service range (the Service web-dual); the launcher's own
  # --service-cluster-ip-range takes one CIDR, the later apiserver flag wins.
  _output/tools/bin/controlplane --dir "$OUT/cp" --port "$PORT" --with-controllers --controllers "$CONTROLLERS" \
    --apiserver-arg=--kubelet-client-certificate="$KP/client.crt" --apiserver-arg=--kubelet-client-key="$KP/client.key" \
    --apiserver-arg=--kubelet-preferred-address-types=Hostname \
    --apiserver-arg=--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/112 \
    >"$OUT/logs/controlplane.log" 2>&1 &
  CP_PID=$!
  for ((i = 0; i < 300; i++)); do
    grep -q '^READY' "$OUT/logs/controlplane.log" 2>/dev/null && break
    if ! kill -0 "$CP_PID" 2>/dev/null; then
      CP_PID=
      tail -n 30 "$OUT/logs/controlplane.log" >&2
      echo "VERDICT: FAILED: the control plane did not start"
      exit 1
    fi
    sleep 1
  done
  grep -q '^READY' "$OUT/logs/controlplane.log" || { echo "VERDICT: FAILED: the control plane did not become ready in 300 s"; exit 1; }
  log "control plane $(grep '^READY' "$OUT/logs/controlplane.log")"

  # --- the guest ----------------------------------------------------------------------------------
  log "booting the sandbox (qemu) and running hack/demo.d/guest.sh in it"
  local rc=0
  # Bounded: a normal run takes 3-5 min in the guest.
  SANDBOX_TIMEOUT=${DEMO_TIMEOUT:-900} hack/sandbox --mem "${DEMO_MEM:-3072}" --net-fwd "$PORT" --rw "$OUT" \
    --host-fwd "$KUBELET_PORT" --host-fwd $((KUBELET_PORT + 1)) --host-fwd $((KUBELET_PORT + 2)) \
    -e DEMO_OUT="$OUT" -e DEMO_CHECK="$CHECK" -e DEMO_SCALE_TIMEOUT="${DEMO_SCALE_TIMEOUT:-120}" -e DEMO_KUBELET_PORT="$KUBELET_PORT" \
    -- hack/demo.d/guest.sh || rc=$?
  if (( rc == 124 || rc == 125 )); then
    # The guest's logs are on the shared $OUT: show where it stood.
    for f in "$OUT"/logs/*.log; do
      [[ -f $f ]] || continue
      echo "== $f (tail)"; tail -n 25 "$f"
    done
    if (( rc == 124 )); then
      echo "VERDICT: FAILED: the demo did not finish within ${DEMO_TIMEOUT:-900}s (DEMO_TIMEOUT)"
    else
      echo "VERDICT: FAILED: the sandbox failed (exit $rc)"
    fi
  fi
  cleanup
  CP_PID=
  return "$rc"
}

rc=0
attempt || rc=$?
# A guest that hangs under emulation is retried once in check mode, from
# scratch, and said so; a failed promise is never retried.
if (( rc == 124 && CHECK == 1 )); then
  rm -rf "$OUT.attempt1" && mv "$OUT" "$OUT.attempt1"
  log "the guest did not finish within ${DEMO_TIMEOUT:-900}s; retrying once with a fresh control plane and VM (first attempt: _output/demo.attempt1/)"
  rc=0
  attempt || rc=$?
fi
log "total wall time $(( $(date +%s) - T0 ))s, exit $rc (logs: _output/demo/logs/)"
exit "$rc"
