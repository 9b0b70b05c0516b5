#!/usr/bin/env bash
# Runs in the hack/sandbox guest (started by hack/bench.sh) for one N: the
# `ipvsadm -R` floor, kube-proxy --proxy-mode=ipvs and ipvs-proxy in turn,
# each in a fresh network namespace (deleted real servers linger in a
# namespace's IPVS trash list and slow later runs). Per contender it writes
# $BENCH_OUT/<who>.env (kernel_s full_s idle_cpu_s idle_s rss_mb) and
# <who>-latency.json, plus <who>.log.
#
# Environment (set by hack/bench.sh): BENCH_N BENCH_OUT BENCH_PORT
# BENCH_KUBECONFIG (admin, guest side) BENCH_BIN (benchdrive, ipvs-proxy)
# BENCH_KUBE_PROXY BENCH_IDLE BENCH_LIMIT BENCH_CHANGES BENCH_WHO
# BENCH_PROFILE (1: ipvs-proxy --enable-profiling; CPU profiles of its cold
# start, BENCH_PROFILE_COLD s, and of the idle window, and a heap profile,
# as <who>-{cold,idle,heap}.pprof).
set -uo pipefail
N=${BENCH_N:?} OUT=${BENCH_OUT:?} PORT=${BENCH_PORT:?}
# Overrides for a run already under way (read when the guest starts), e.g.
# a shorter BENCH_IDLE written to _output/bench/N/guest.env while N-1 runs.
# shellcheck source=/dev/null
[[ -f $OUT/guest.env ]] && source "$OUT/guest.env"
BIN=${BENCH_BIN:?} KP=${BENCH_KUBE_PROXY:?}
IDLE=${BENCH_IDLE:-300} LIMIT=${BENCH_LIMIT:-1200} CHANGES=${BENCH_CHANGES:-50}
WHO=${BENCH_WHO:-floor kube-proxy ipvs-proxy}
PROFILE=false
[[ ${BENCH_PROFILE:-0} == 1 ]] && PROFILE=true
read -r VS RS <"$OUT/expect"
HZ=$(getconf CLK_TCK)
NODE_IP=10.0.0.1 CLUSTER_CIDR=10.160.0.0/12
T0=$(date +%s)
say() { echo "bench-guest N=$N: [$(( $(date +%s) - T0 ))s] $*" >&2; }
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

# The API server (host 127.0.0.1:PORT, here 10.0.2.100:PORT) through a unix
# socket, which every network namespace can reach.
socat UNIX-LISTEN:/tmp/api.sock,fork TCP:10.0.2.100:"$PORT" &
RELAY=$!
KCFG=/tmp/bench.kubeconfig
sed "s#server: https://10.0.2.100:$PORT#server: https://127.0.0.1:$PORT#" "$BENCH_KUBECONFIG" >"$KCFG"
grep -q 'tls-server-name' "$KCFG" || sed -i 's#^\(\s*\)server: \(.*\)#\1server: \2\n\1tls-server-name: localhost#' "$KCFG"

netns_up() {
  local ns=$1
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add eth0 type dummy
  ip -n "$ns" addr add "$NODE_IP/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via 10.0.0.254 dev eth0
  ip netns exec "$ns" socat TCP-LISTEN:"$PORT",bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:/tmp/api.sock &
  NS_RELAY=$!
  sleep 0.5
}
netns_down() {
  local ns=$1
  kill "$NS_RELAY" 2>/dev/null; wait "$NS_RELAY" 2>/dev/null
  ip netns del "$ns"
  sleep 15 # the kernel frees the namespace's IPVS table in the background
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# full_wait WHO NS START: seconds from START until WHO completed its first
# sync of everything (addresses, sets, rules too), from the proxy's own clock
# stamp, so not delayed by this poll: ours, the log line of its first full
# sync once /healthz says ready; kube-proxy, its last-sync timestamp metric
# (set at the end of a successful syncProxyRules).
full_wait() {
  local who=$1 ns=$2 start=$3 ts
  while :; do
    ts=
    if [[ $who == ipvs-proxy ]]; then
      if ip netns exec "$ns" curl -s -m 5 http://127.0.0.1:10256/healthz 2>/dev/null | grep -q '"ready":true'; then
        ts=$(grep -m1 'msg=synced full=true' "$OUT/$who.log" | sed -n 's/^time=\([^ ]*\).*/\1/p')
        [[ -n $ts ]] && ts=$(date -d "$ts" +%s.%N)
      fi
    else
      ts=$(ip netns exec "$ns" curl -s -m 5 http://127.0.0.1:10249/metrics 2>/dev/null |
        awk '/^kubeproxy_sync_proxy_rules_last_timestamp_seconds/ && $2 > 0 { printf "%.3f", $2 }')
    fi
    [[ -n $ts ]] && break
    if awk -v s="$start" -v n="$(now)" -v l="$LIMIT" 'BEGIN { exit !(n - s > l) }'; then
      echo timeout; return
    fi
    sleep 1
  done
  sub "$ts" "$start"
}

run_floor() {
  local ns=bench-floor t0 t1 check
  netns_up "$ns"
  say "floor: ipvsadm -R of $VS virtual and $RS real servers"
  t0=$(now)
  ip netns exec "$ns" ipvsadm -R <"$OUT/floor.ipvsadm"
  t1=$(now)
  check=$(ip netns exec "$ns" "$BIN/benchdrive" wait -vs "$VS" -rs "$RS" -since "$t1" -timeout 10s)
  local k; k=$(sub "$t1" "$t0")
  say "floor: ${k}s (count check: $check)"
  printf 'kernel_s=%s\nfull_s=%s\n' "$k" "$k" >"$OUT/floor.env"
  netns_down "$ns"
}

run_proxy() {
  local who=$1 ns=bench-$1 pid t0 kernel full c0 c1 rss
  netns_up "$ns"
  say "$who: start"
  t0=$(now)
  if [[ $who == ipvs-proxy ]]; then
    # shellcheck disable=SC2086 # BENCH_PROXY_ENV is a list of NAME=value words
    ip netns exec "$ns" env ${BENCH_PROXY_ENV:-} "$BIN/ipvs-proxy" run --kubeconfig "$KCFG" --node-name bench-node \
      --cluster-cidr "$CLUSTER_CIDR" --node-port-addresses "$NODE_IP/32" \
      --healthz-address 127.0.0.1:10256 --metrics-address 127.0.0.1:10249 -v 1 \
      --enable-profiling="$PROFILE" >"$OUT/$who.log" 2>&1 &
    pid=$!
    if [[ $PROFILE == true ]]; then # CPU profile of the cold start
      (for _ in $(seq 300); do ip netns exec "$ns" curl -fsS -o /dev/null http://127.0.0.1:10249/healthz 2>/dev/null && break; sleep 0.1; done
        ip netns exec "$ns" curl -fsS -o "$OUT/$who-cold.pprof" \
          "http://127.0.0.1:10249/debug/pprof/profile?seconds=${BENCH_PROFILE_COLD:-120}" || say "$who: no cold-start profile") &
      cold_prof=$!
    fi
  else
    ip netns exec "$ns" "$KP" --proxy-mode=ipvs --kubeconfig "$KCFG" --hostname-override=bench-node \
      --cluster-cidr="$CLUSTER_CIDR" --nodeport-addresses="$NODE_IP/32" \
      --healthz-bind-address=127.0.0.1:10256 --metrics-bind-address=127.0.0.1:10249 \
      --conntrack-max-per-core=0 --v=1 >"$OUT/$who.log" 2>&1 &
    pid=$!
  fi
  # The resident set each second (s since start, kB), to see when the peak
  # is: shell builtins but for sleep, so that the sampler costs the guest's
  # CPUs next to nothing while the proxy's are measured.
  (local s0=${EPOCHREALTIME/./} k v _
    while [[ -e /proc/$pid ]]; do
      while read -r k v _; do
        [[ $k == VmRSS: ]] && { echo "$(( (${EPOCHREALTIME/./} - s0) / 1000000 )) $v"; break; }
      done <"/proc/$pid/status"
      sleep 1
    done) >"$OUT/$who-rss.tsv" 2>/dev/null &
  full_wait "$who" "$ns" "$t0" >"/tmp/$who.full" &
  local fw=$!
  kernel=$(ip netns exec "$ns" "$BIN/benchdrive" wait -vs "$VS" -rs "$RS" -since "$t0" -timeout "${LIMIT}s")
  say "$who: kernel-complete ${kernel}"
  wait "$fw"
  full=$(cat "/tmp/$who.full")
  say "$who: fully programmed ${full} (kernel-complete as polled: ${kernel})"
  # The poll lags by up to one pass over the table (seconds at 10k under
  # emulation); a proxy that reports a complete sync had every virtual and
  # real server in by then.
  if [[ $kernel != timeout && $full != timeout ]] && awk -v k="$kernel" -v f="$full" 'BEGIN { exit !(f < k) }'; then
    echo "kernel_polled_s=$kernel" >"$OUT/$who.env"
    kernel=$full
  else
    : >"$OUT/$who.env"
  fi
  {
    echo "kernel_s=$kernel"
    echo "full_s=$full"
    echo "limit_s=$LIMIT"
    # the resident set's high-water mark through the cold start
    awk '/^VmHWM/ { printf "rss_cold_mb=%.0f\n", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null
  } >>"$OUT/$who.env"
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"
    say "$who: exited early with status $? (log $OUT/$who.log)"; tail -n 20 "$OUT/$who.log" >&2
    dmesg | tail -n 20 >&2
  elif [[ $kernel == timeout || $full == timeout ]]; then
    say "$who: cut at the ${LIMIT}s limit: no latency or idle figures"
  else
    say "$who: latency ($CHANGES changes of each kind)"
    ip netns exec "$ns" "$BIN/benchdrive" latency -kubeconfig "$KCFG" -n "$N" -changes "$CHANGES" \
      -out "$OUT/$who-latency.json" -limit "${BENCH_LAT_LIMIT:-900}s" || say "$who: latency failed"
    sleep 10 # let the restore (deleted test Services) settle
    if [[ -n ${cold_prof:-} ]]; then # one CPU profile at a time
      wait "$cold_prof" || true
      cold_prof=
    fi
    say "$who: idle ${IDLE}s"
    c0=$(cpu_ticks "$pid")
    if [[ $PROFILE == true && $who == ipvs-proxy ]]; then
      ip netns exec "$ns" curl -fsS -o "$OUT/$who-idle.pprof" \
        "http://127.0.0.1:10249/debug/pprof/profile?seconds=$IDLE" || { say "$who: no idle profile"; sleep "$IDLE"; }
    else
      sleep "$IDLE"
    fi
    c1=$(cpu_ticks "$pid")
    if [[ $PROFILE == true && $who == ipvs-proxy ]]; then
      ip netns exec "$ns" curl -fsS -o "$OUT/$who-heap.pprof" "http://127.0.0.1:10249/debug/pprof/heap?gc=1" || true
    fi
    {
      echo "idle_s=$IDLE"
      awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN { printf "idle_cpu_s=%.2f\n", (b - a) / hz }'
    } >>"$OUT/$who.env"
  fi
  rss=$(awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null)
  echo "rss_mb=${rss:-}" >>"$OUT/$who.env"
  rss=$(awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null)
  echo "rss_end_mb=${rss:-}" >>"$OUT/$who.env"
  # At the end, what of the resident set is anonymous (heap, stacks, the
  # runtime's own) and what file-backed (the binary's text and data).
  awk '/^RssAnon/ { printf "rss_anon_end_mb=%.0f\n", $2 / 1024 } /^RssFile/ { printf "rss_file_end_mb=%.0f\n", $2 / 1024 }' \
    "/proc/$pid/status" >>"$OUT/$who.env" 2>/dev/null || true
  say "$who: $(tr '\n' ' ' <"$OUT/$who.env")"
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  netns_down "$ns"
}

for who in $WHO; do
  case $who in
    floor) run_floor ;;
    kube-proxy | ipvs-proxy) run_proxy "$who" ;;
    *) say "unknown contender $who" ;;
  esac
done
kill "$RELAY" 2>/dev/null
say "done"
