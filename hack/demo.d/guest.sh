#!/usr/bin/env bash
# hack/demo.d/guest.sh: the NodePort walkthrough inside the sandbox guest (run
# by hack/demo.sh, which starts the control plane on the host). Builds three
# nodes (netns node-a/b/c on bridge br0, 192.168.1.10-12, pod CIDRs
# 10.244.{0,1,2}.0/24) and an external client netns (192.168.1.100), starts one
# node agent per node, deploys ipvs-proxy as a DaemonSet (kubectl apply -k), applies the examples, shows the
# walkthrough's commands and asserts its promises. The cluster is dual-stack:
# the nodes also have fd00:192:168:1::10-12 (client ::100) and the pod CIDRs
# fd00:10:244:{0,1,2}::/64; the Service web-dual (web-dual.yaml) shows IPv6.
#
# Environment: DEMO_OUT (host dir shared writable: cp/ = control plane, logs/),
# DEMO_CHECK=1 (assert quietly: only promise lines and the verdict),
# DEMO_KUBELET_PORT (node i's kubelet log endpoint listens on it + i).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${DEMO_OUT:?}
CHECK=${DEMO_CHECK:-0}
CP=$OUT/cp
LOGS=$OUT/logs
BIN=$REPO/_output/bin
TOOLS=$REPO/_output/tools/bin
export PATH=$TOOLS:$BIN:$PATH
# No kubectl call may hang the demo: each is bounded (rollout status by its
# own --timeout, plus a margin), and so is every try of wait_for.
export KUBECTL_BIN=$TOOLS/kubectl
kubectl() {
  local max=60
  [[ ${1:-} == rollout ]] && max=330
  timeout -k 5 "$max" "$KUBECTL_BIN" "$@"
}
export -f kubectl
export KUBECONFIG=$CP/admin-guest.kubeconfig
export TMPDIR=/tmp/demo
mkdir -p "$TMPDIR" "$LOGS"
T0=$(date +%s)

NODES=(node-a node-b node-c)
NODE_IPS=(192.168.1.10 192.168.1.11 192.168.1.12)
CLIENT_IP=192.168.1.100
# Dual-stack: node i also has NODE_IP6S[i] and the pod CIDR fd00:10:244:i::/64.
NODE_IP6S=(fd00:192:168:1::10 fd00:192:168:1::11 fd00:192:168:1::12)
CLIENT_IP6=fd00:192:168:1::100
SCALE_TIMEOUT=${DEMO_SCALE_TIMEOUT:-120}
KUBELET_PORT=${DEMO_KUBELET_PORT:?} # node i's log endpoint: KUBELET_PORT+i (forwarded to host loopback)

# --- output helpers --------------------------------------------------------------
PASSED=() FAILED=()
say() { [[ $CHECK == 1 ]] || printf '%s\n' "$*"; }
# title: a heading; in check mode a progress line on stderr instead, so that a
# CI log shows which step a slow or stuck run was in.
title() {
  say ""; say "### $*"
  [[ $CHECK == 1 ]] && echo "demo: [$(elapsed)] $*" >&2
  return 0
}
# qcmd CMD...: the command as one would type it (quoting what needs it).
qcmd() {
  local out=() a q="'"
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=,@+%-]+$ ]]; then out+=("$a")
    elif [[ $a =~ ^(-?[A-Za-z0-9_.-]+=)(.*)$ ]]; then out+=("${BASH_REMATCH[1]}$q${BASH_REMATCH[2]}$q")
    else out+=("$q$a$q"); fi
  done
  echo "\$ ${out[*]}"
}
# show CMD...: echo the command, run it, output to the terminal (or the log in check mode).
show() {
  if [[ $CHECK == 1 ]]; then
    { qcmd "$@"; "$@"; } >>"$LOGS/demo-commands.log" 2>&1
  else
    qcmd "$@"; "$@" 2>&1
  fi
}
# capture_sh VAR 'PIPELINE': like capture, for a shell pipeline (printed as written).
capture_sh() {
  local __v=$1 __out
  __out=$(bash -c "$2" 2>&1)
  printf -v "$__v" '%s' "$__out"
  if [[ $CHECK == 1 ]]; then
    { echo "\$ $2"; echo "$__out"; } >>"$LOGS/demo-commands.log"
  else
    echo "\$ $2"; [[ -n $__out ]] && echo "$__out"
  fi
  return 0
}
# capture VAR CMD...: like show, but also keeps the output in VAR.
capture() {
  local __v=$1; shift
  local __out
  __out=$("$@" 2>&1)
  printf -v "$__v" '%s' "$__out"
  if [[ $CHECK == 1 ]]; then
    { qcmd "$@"; echo "$__out"; } >>"$LOGS/demo-commands.log"
  else
    qcmd "$@"; [[ -n $__out ]] && echo "$__out"
  fi
  return 0
}
promise() { # promise NAME ok|fail [detail]
  if [[ $2 == ok ]]; then
    PASSED+=("$1"); echo "  [PASS] $1${3:+ ($3)}"
  else
    FAILED+=("$1"); echo "  [FAIL] $1${3:+ ($3)}"
  fi
}
elapsed() { echo $(( $(date +%s) - T0 ))s; }
wait_for() { # wait_for SECONDS CMD... (true when CMD succeeds in time)
  local end=$(( $(date +%s) + $1 )); shift
  until "$@"; do
    (( $(date +%s) < end )) || return 1
    sleep 1
  done
}
dump_logs() {
  echo "--- log tails (full logs in $LOGS) ---"
  for f in "$LOGS"/*.log "$TMPDIR"/pod.*.log; do
    [[ -f $f ]] || continue
    echo "== $f"; tail -n 15 "$f"
  done
}
verdict() {
  echo ""
  local n=$(( ${#PASSED[@]} + ${#FAILED[@]} ))
  if (( ${#FAILED[@]} == 0 && n > 0 )); then
    echo "VERDICT: every promise kept (${#PASSED[@]}/$n) in $(elapsed)"
    exit 0
  fi
  local IFS=';'
  [[ $CHECK == 1 ]] && dump_logs
  echo "VERDICT: FAILED ${#FAILED[@]}/$n promises: ${FAILED[*]} (after $(elapsed))"
  exit 1
}
fatal() { promise "$1" fail "${2:-}"; dump_logs; verdict; }

# rs NODE_NS VIP:PORT [tcp|udp]: real servers with weight > 0 of one virtual server.
rs() {
  local flag=-t; [[ ${3:-tcp} == udp ]] && flag=-u
  ip netns exec "$1" ipvsadm -Ln "$flag" "$2" 2>/dev/null | awk '$1=="->" && $2 ~ /^[0-9]/ && $4 > 0 {print $2}' | sort
}
rs_count() { rs "$@" | wc -l; }
rs_all() { ip netns exec "$1" ipvsadm -Ln -t "$2" 2>/dev/null | awk '$1=="->" && $2 ~ /^[0-9]/' | wc -l; }
# For wait_for (re-evaluated on every try):
rs_is() { [[ $(rs_count "$@") -eq $3 ]]; }                      # rs_is NODE VIP N [udp]
rs_exactly() { [[ $(rs_all "$1" "$2") -eq $3 ]] && rs_is "$1" "$2" "$3"; } # no weight-0 leftovers either
web_pods_are() { [[ $(web_pods | wc -l) -eq $1 ]]; }
web_pods() { kubectl get pods -l app=web -o jsonpath='{range .items[?(@.status.podIP)]}{.metadata.name}{"\n"}{end}' 2>/dev/null | sort; }
ready_web_pods() { kubectl get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.deletionTimestamp} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | awk 'NF==2 && $2=="True" {print $1}' | sort; }

# --- 1. network: bridge, three node netns, client netns ----------------------------
title "three nodes on a bridge (network namespaces), an external client"
trap 'echo "VERDICT: FAILED: guest network setup (line $LINENO)"' ERR
set -e
sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip link add br0 type bridge
ip addr add 192.168.1.1/24 dev br0
# IPv6 addresses without duplicate address detection: usable at once.
ip addr add fd00:192:168:1::1/64 dev br0 nodad
ip link set br0 up
# The nodes reach the API server (host 127.0.0.1:PORT = 10.0.2.100:PORT, only
# from this root netns) through 192.168.1.1; pod traffic too (CoreDNS).
iptables -t nat -A POSTROUTING -d 10.0.2.100 -j MASQUERADE
for i in 0 1 2; do
  n=${NODES[$i]} ip=${NODE_IPS[$i]}
  ip netns add "$n"
  ip link add "$n-eth0" type veth peer name eth0 netns "$n"
  ip link set "$n-eth0" master br0 up
  ip -n "$n" link set lo up
  ip -n "$n" addr add "$ip/24" dev eth0
  ip -n "$n" addr add "${NODE_IP6S[$i]}/64" dev eth0 nodad
  ip -n "$n" link set eth0 up
  ip -n "$n" route add default via 192.168.1.1
  ip -n "$n" -6 route add default via fd00:192:168:1::1
  for j in 0 1 2; do
    [[ $j == "$i" ]] || ip -n "$n" route add "10.244.$j.0/24" via "${NODE_IPS[$j]}"
    [[ $j == "$i" ]] || ip -n "$n" -6 route add "fd00:10:244:$j::/64" via "${NODE_IP6S[$j]}"
  done
  # Routing pods' IPv6 is the node's (the CNI's) job, not ipvs-proxy's.
  ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv6.conf.all.forwarding=1
  ip route add "10.244.$i.0/24" via "$ip"
  ip -6 route add "fd00:10:244:$i::/64" via "${NODE_IP6S[$i]}"
done
ip netns add client
ip link add client-eth0 type veth peer name eth0 netns client
ip link set client-eth0 master br0 up
ip -n client link set lo up
ip -n client addr add "$CLIENT_IP/24" dev eth0
ip -n client addr add "$CLIENT_IP6/64" dev eth0 nodad
ip -n client link set eth0 up
set +e
trap - ERR
say "nodes: ${NODES[*]} at ${NODE_IPS[*]}, pod CIDRs 10.244.0.0/24 10.244.1.0/24 10.244.2.0/24, client netns at $CLIENT_IP"
say "  and IPv6 (dual-stack): nodes at ${NODE_IP6S[*]}, pod CIDRs fd00:10:244:0::/64 fd00:10:244:1::/64 fd00:10:244:2::/64, client at $CLIENT_IP6"

# --- 2. per node: the node agent ------------------------------------------------------------
title "per node: the node agent (hack/agent), a stand-in kubelet: registers the Node, runs its pods"
# The DaemonSet's pods run from the unpacked image (make image), chrooted; a
# copy because mount points get created in it (the checkout is read-only here).
cp -a "$REPO/_output/image/rootfs" "$TMPDIR/rootfs"
PIDS=()
for i in 0 1 2; do
  n=${NODES[$i]}
  demo-agent node --kubeconfig "$KUBECONFIG" --node-name "$n" --node-ip "${NODE_IPS[$i]},${NODE_IP6S[$i]}" \
    --pod-cidr "10.244.$i.0/24,fd00:10:244:$i::/64" --coredns "$TOOLS/coredns" --busybox /bin/busybox \
    --image-rootfs "$TMPDIR/rootfs" --image ipvs-proxy \
    --kubelet-port $((KUBELET_PORT + i)) --kubelet-client-ca "$OUT/kubelet-pki/ca.crt" --hostname-address 127.0.0.1 \
    >"$LOGS/agent-$n.log" 2>&1 &
  PIDS+=($!)
done
say "demo-agent node --node-name node-a --node-ip 192.168.1.10,fd00:192:168:1::10 --pod-cidr 10.244.0.0/24,fd00:10:244:0::/64 --image-rootfs rootfs --kubelet-port $KUBELET_PORT ... (likewise node-b, node-c)"
trap 'kill "${PIDS[@]}" 2>/dev/null' EXIT

# --- 3. apply ------------------------------------------------------------------------------
title "deploy ipvs-proxy as a DaemonSet: config/default (kustomize), with the demo's ConfigMap"
wait_for 180 kubectl get serviceaccount default >/dev/null 2>&1 || fatal "control plane reachable from the guest"
show kubectl apply -k hack/demo.d/ipvs-proxy
show kubectl -n kube-system rollout status daemonset/ipvs-proxy --timeout=300s

title "apply cluster DNS and the walkthrough's manifests"
W=examples/walkthrough
show kubectl apply -f hack/demo.d/kube-dns.yaml -f $W/deployment.yaml -f $W/service-nodeport.yaml \
  -f $W/service-auto-nodeport.yaml -f $W/my-app.yaml
show kubectl rollout status deployment/web-app --timeout=300s
show kubectl -n kube-system rollout status deployment/coredns --timeout=300s
show kubectl rollout status deployment/my-app --timeout=300s
# ...and wait until IPVS on every node has caught up.
for i in 0 1 2; do
  wait_for 120 rs_is "${NODES[$i]}" "${NODE_IPS[$i]}:30080" 3 ||
    fatal "IPVS on ${NODES[$i]} programs web-nodeport" "$(rs_count "${NODES[$i]}" "${NODE_IPS[$i]}:30080") real servers"
done
wait_for 60 rs_is node-a 10.96.0.10:53 1 udp || fatal "IPVS programs kube-dns"
say "ready after $(elapsed)"

# --- 4. the walkthrough's troubleshooting commands --------------------------------------------
title "the cluster"
capture nodes kubectl get nodes -o wide
n_ready=$(kubectl get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{end}' | grep -o True | wc -l)
# (the IPv4 ones; each node has an IPv6 InternalIP too, checked under dual-stack below)
internal=$(kubectl get nodes -o jsonpath='{.items[*].status.addresses[?(@.type=="InternalIP")].address}' | tr ' ' '\n' | grep -v : | paste -sd' ')
[[ $n_ready == 3 && $internal == "${NODE_IPS[*]}" ]]; promise "three Ready nodes with InternalIPs ${NODE_IPS[*]}" "$([[ $? == 0 ]] && echo ok || echo fail)" "$internal"
capture dsp kubectl get pods -n kube-system -l k8s-app=ipvs-proxy -o wide
ds=$(kubectl get pods -n kube-system -l k8s-app=ipvs-proxy -o jsonpath='{range .items[*]}{.spec.nodeName}={.status.podIP}/{.status.phase}/{.status.conditions[?(@.type=="Ready")].status} {end}')
[[ $ds == *"node-a=192.168.1.10/Running/True"* && $ds == *"node-b=192.168.1.11/Running/True"* && $ds == *"node-c=192.168.1.12/Running/True"* ]]
promise "ipvs-proxy runs as a DaemonSet: one Running, Ready pod per node, IP = node IP (hostNetwork)" "$([[ $? == 0 ]] && echo ok || echo fail)" "$ds"
capture dsl kubectl logs -n kube-system -l k8s-app=ipvs-proxy --prefix --tail=2
n_logs=$(grep -o '^\[pod/ipvs-proxy-[a-z0-9]*/ipvs-proxy\]' <<<"$dsl" | sort -u | wc -l)
[[ $n_logs == 3 ]]; promise "kubectl logs -n kube-system -l k8s-app=ipvs-proxy shows each node's ipvs-proxy log (through the node agents' log endpoints)" "$([[ $? == 0 ]] && echo ok || echo fail)" "$n_logs of 3 pods"
show kubectl get pods -o wide
show kubectl get svc
show kubectl -n kube-system get pods,svc -o wide
capture svc kubectl get service web-nodeport
capture np kubectl get service web-nodeport -o jsonpath='{.spec.ports[0].nodePort}'
say ""
[[ $np == 30080 ]]; promise "web-nodeport has nodePort 30080" "$([[ $? == 0 ]] && echo ok || echo fail)" "$np"
show kubectl get endpointslices
capture eps kubectl get endpoints web-nodeport
show kubectl get pods -l app=web
mapfile -t PODS < <(ready_web_pods)
n_ep=$(kubectl get endpointslices -l kubernetes.io/service-name=web-nodeport -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}{.targetRef.name}{"\n"}{end}' | sort | tr '\n' ' ')
[[ ${#PODS[@]} == 3 && $n_ep == "${PODS[*]} " ]]; promise "EndpointSlice lists the 3 ready app=web pods" "$([[ $? == 0 ]] && echo ok || echo fail)" "$n_ep"

title "IPVS on node-a (programmed by ipvs-proxy)"
show ip netns exec node-a ipvsadm -Ln

# --- 5. from outside: every node address, balanced -------------------------------------------
title "from the external client ($CLIENT_IP): curl each node address, 6 new connections each"
all_ok=ok dist_ok=ok detail=""
for ip in "${NODE_IPS[@]}"; do
  capture out ip netns exec client curl -s --max-time 5 -H 'Connection: close' "http://$ip:30080/[1-6]"
  got=$(grep -c . <<<"$out")
  seen=$(sort -u <<<"$out" | grep -xF -f <(printf '%s\n' "${PODS[@]}") | wc -l)
  [[ $got == 6 ]] || all_ok=fail
  [[ $seen == "${#PODS[@]}" ]] || dist_ok=fail
  detail+="$ip: $got/6 answers from $seen pods; "
done
promise "curl http://<each node>:30080 answers" "$all_ok" "${detail%; }"
promise "NodePort traffic is balanced across all ready pods" "$dist_ok"

# --- 6. from inside a pod: DNS name, ClusterIP, node address -------------------------------------
POD=${PODS[0]}
CIP=$(kubectl get service web-nodeport -o jsonpath='{.spec.clusterIP}')
title "from inside pod $POD (netns $POD): Service name (DNS), ClusterIP $CIP, node address"
show cat "/etc/netns/$POD/resolv.conf"
capture out ip netns exec "$POD" wget -q -T 10 -O- http://web-nodeport:80
grep -qxF -f <(printf '%s\n' "${PODS[@]}") <<<"$out"; promise "wget http://web-nodeport:80 from a pod (DNS + ClusterIP)" "$([[ $? == 0 ]] && echo ok || echo fail)" "$out"
capture out ip netns exec "$POD" wget -q -T 10 -O- "http://$CIP:80"
grep -qxF -f <(printf '%s\n' "${PODS[@]}") <<<"$out"; promise "wget http://<ClusterIP>:80 from a pod" "$([[ $? == 0 ]] && echo ok || echo fail)" "$out"
capture out ip netns exec "$POD" curl -s --max-time 5 -H 'Connection: close' "http://192.168.1.12:30080/[1-3]"
[[ $(grep -cxF -f <(printf '%s\n' "${PODS[@]}") <<<"$out") == 3 ]]; promise "curl http://<node-ip>:30080 from a pod" "$([[ $? == 0 ]] && echo ok || echo fail)"
capture udp ip netns exec "$POD" demo-agent resolve 10.96.0.10 web-nodeport.default.svc.cluster.local
capture tcp ip netns exec "$POD" demo-agent resolve --tcp 10.96.0.10 web-nodeport.default.svc.cluster.local
[[ $udp == *"-> $CIP" && $tcp == *"-> $CIP" ]]; promise "kube-dns answers over UDP and TCP through IPVS" "$([[ $? == 0 ]] && echo ok || echo fail)"

title "the walkthrough's internal-client pod: wget -O- http://web-nodeport:80"
show kubectl apply -f $W/internal-client.yaml
ic_done() { [[ $(kubectl get pod internal-client -o jsonpath='{.status.phase}' 2>/dev/null) == @(Succeeded|Failed) ]]; }
wait_for 90 ic_done
show kubectl get pod internal-client -o wide
capture ic kubectl logs internal-client
grep -qxF -f <(printf '%s\n' "${PODS[@]}") <<<"$ic"; promise "kubectl logs internal-client shows the answer from a web-app pod" "$([[ $? == 0 ]] && echo ok || echo fail)"

# --- 6b. dual-stack: IPv6 nodes, pods and Service range ------------------------------------------
title "dual-stack: web-dual (hack/demo.d/web-dual.yaml: ipFamilyPolicy PreferDualStack, NodePort) over IPv6"
show kubectl apply -f hack/demo.d/web-dual.yaml
capture_sh nodes6 "kubectl get nodes -o custom-columns='NAME:.metadata.name,INTERNAL-IPS:.status.addresses[?(@.type==\"InternalIP\")].address,POD-CIDRS:.spec.podCIDRs[*]'"
capture_sh pods6 "kubectl get pods -l app=web -o custom-columns='NAME:.metadata.name,NODE:.spec.nodeName,POD-IPS:.status.podIPs[*].ip'"
# Each node: IPv4 + IPv6 InternalIP and podCIDR; each ready web pod: IPv4 + IPv6 podIP of its node's ranges.
n_ds=$(kubectl get nodes -o jsonpath='{range .items[*]}{.status.addresses[?(@.type=="InternalIP")].address} {.spec.podCIDRs[*]}{"\n"}{end}' |
  awk '$1 ~ /^192\.168\.1\./ && $2 ~ /^fd00:192:168:1::/ && $3 ~ /^10\.244\./ && $4 ~ /^fd00:10:244:/ && NF == 4' | wc -l)
p_ds=$(kubectl get pods -l app=web -o jsonpath='{range .items[*]}{.status.podIPs[*].ip}{"\n"}{end}' |
  awk '$1 ~ /^10\.244\./ && $2 ~ /^fd00:10:244:/ && NF == 2' | wc -l)
(( n_ds == 3 && p_ds == ${#PODS[@]} )); promise "dual-stack nodes and pods: each Node has an IPv4 and an IPv6 InternalIP and podCIDR, each web pod an IPv4 and an IPv6 podIP" "$([[ $? == 0 ]] && echo ok || echo fail)" "$n_ds of 3 nodes, $p_ds of ${#PODS[@]} pods"
# kubectl get svc prints the first cluster IP only; spec.clusterIPs has both.
show kubectl get svc web-dual
capture_sh dsvc "kubectl get svc web-dual -o custom-columns='NAME:.metadata.name,TYPE:.spec.type,IP-FAMILY-POLICY:.spec.ipFamilyPolicy,IP-FAMILIES:.spec.ipFamilies[*],CLUSTER-IPS:.spec.clusterIPs[*],NODE-PORT:.spec.ports[0].nodePort'"
CIPS=$(kubectl get svc web-dual -o jsonpath='{.spec.clusterIPs[*]}')
read -r CIP4D CIP6 _ <<<"$CIPS"
NP6=$(kubectl get svc web-dual -o jsonpath='{.spec.ports[0].nodePort}')
[[ $CIP4D =~ ^10\.96\. && $CIP6 == fd00:10:96::* && -n $NP6 ]]
promise "kubectl get svc web-dual: two cluster IPs, IPv4 and IPv6 (PreferDualStack on the dual-stack cluster)" "$([[ $? == 0 ]] && echo ok || echo fail)" "$CIPS, nodePort $NP6"
# rs6 NODE_NS [VIP6]:PORT: IPv6 real servers with weight > 0 of one virtual server.
rs6() { ip netns exec "$1" ipvsadm -Ln -t "$2" 2>/dev/null | awk '$1=="->" && $2 ~ /^\[/ && $4 > 0 {print $2}' | sort; }
rs6_is() { [[ $(rs6 "$1" "$2" | wc -l) -eq $3 ]]; }
wait_for 60 rs6_is node-a "[$CIP6]:80" "${#PODS[@]}"
for i in 0 1 2; do
  wait_for 30 rs6_is "${NODES[$i]}" "[${NODE_IP6S[$i]}]:$NP6" "${#PODS[@]}"
done
title "IPv6 in IPVS on node-a: the IPv6 virtual servers of web-dual, with IPv6 real servers (the pods' IPv6 addresses)"
capture_sh ipvs6 "ip netns exec node-a ipvsadm -Ln | awk '/^(TCP|UDP|SCTP) / {v6 = (\$2 ~ /^\\[/)} v6'"
n_vs6=$(grep -cE '^(TCP|UDP|SCTP) +\[' <<<"$ipvs6")
rs_cip6=$(rs6 node-a "[$CIP6]:80" | grep -c '^\[fd00:10:244:')
rs_np6=$(rs6 node-a "[${NODE_IP6S[0]}]:$NP6" | grep -c '^\[fd00:10:244:')
(( n_vs6 >= 2 && rs_cip6 == ${#PODS[@]} && rs_np6 == ${#PODS[@]} ))
promise "ip netns exec node-a ipvsadm -Ln: IPv6 virtual servers ([ClusterIP]:80, [node IPv6]:$NP6, ...) with the ${#PODS[@]} pods' IPv6 addresses as real servers" "$([[ $? == 0 ]] && echo ok || echo fail)" "$n_vs6 IPv6 virtual servers; $rs_cip6 and $rs_np6 IPv6 real servers"
title "from the external client ($CLIENT_IP6): curl http://[<each node's IPv6>]:$NP6, 3 new connections each"
all6=ok detail=""
for ip in "${NODE_IP6S[@]}"; do
  capture out ip netns exec client curl -s --max-time 5 -H 'Connection: close' "http://[$ip]:$NP6/[1-3]"
  got=$(grep -cxF -f <(printf '%s\n' "${PODS[@]}") <<<"$out")
  seen=$(sort -u <<<"$out" | grep -xF -f <(printf '%s\n' "${PODS[@]}") | wc -l)
  [[ $got == 3 ]] || all6=fail
  detail+="[$ip]: $got/3 answers from $seen pods; "
done
promise "curl http://[<node IPv6>]:$NP6 from the client answers from web pods (NodePort over IPv6)" "$all6" "${detail%; }"
title "from inside pod $POD: wget http://[$CIP6]:80 (web-dual's IPv6 ClusterIP)"
capture out ip netns exec "$POD" wget -q -T 10 -O- "http://[$CIP6]:80"
grep -qxF -f <(printf '%s\n' "${PODS[@]}") <<<"$out"; promise "wget http://[<IPv6 ClusterIP>]:80 from a pod" "$([[ $? == 0 ]] && echo ok || echo fail)" "$out"

# --- 7. multi-port Service (and its node-port collision), Service without nodePort ----------------
title "the walkthrough's multi-port Service multi-port-nodeport (http 80->8080 as 30080, https 443->8443 as 30443)"
capture refused kubectl apply -f $W/multi-port.yaml
! kubectl get service multi-port-nodeport >/dev/null 2>&1 && [[ $refused == *"provided port is already allocated"* ]]
promise "the API server refuses multi-port-nodeport: nodePort 30080 is web-nodeport's (provided port is already allocated)" "$([[ $? == 0 ]] && echo ok || echo fail)"
title "the walkthrough's \"Port Already Allocated\" check: which Service holds node port 30080?"
capture_sh holder "kubectl get services --all-namespaces -o json | jq -r '.items[] | select(any(.spec.ports[]?; .nodePort == 30080)) | \"\\(.metadata.namespace)/\\(.metadata.name) \\(.spec.ports | map(\"\\(.port):\\(.nodePort)\") | join(\",\"))\"'"
[[ $holder == "default/web-nodeport 80:30080" ]]; promise "the check names the holder of 30080: default/web-nodeport" "$([[ $? == 0 ]] && echo ok || echo fail)" "$holder"
title "its advice: use a different port (or remove the other Service); we keep web-nodeport and take 30081"
capture_sh applied "sed 's/nodePort: 30080/nodePort: 30081/' $W/multi-port.yaml | kubectl apply -f -"
show kubectl get service multi-port-nodeport web-auto
mapfile -t MPODS < <(kubectl get pods -l app=my-app -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')
wait_for 60 rs_is node-b 192.168.1.11:30081 "${#MPODS[@]}"
wait_for 30 rs_is node-b 192.168.1.11:30443 "${#MPODS[@]}"
capture o1 ip netns exec client curl -s --max-time 5 http://192.168.1.11:30081
capture o2 ip netns exec client curl -s --max-time 5 http://192.168.1.11:30443
grep -qxF -f <(printf '%s\n' "${MPODS[@]}") <<<"$o1" && grep -qxF -f <(printf '%s\n' "${MPODS[@]}") <<<"$o2"
promise "each port of a multi-port Service has its own node port (30081 -> my-app:8080, 30443 -> my-app:8443)" "$([[ $? == 0 ]] && echo ok || echo fail)"
capture anp kubectl get service web-auto -o jsonpath='{.spec.ports[0].nodePort}'
say ""
capture o3 ip netns exec client curl -s --max-time 5 "http://192.168.1.12:$anp"
(( anp >= 30000 && anp <= 32767 )) && grep -qxF -f <(printf '%s\n' "${PODS[@]}") <<<"$o3"
promise "a Service without nodePort gets one from 30000-32767 and answers" "$([[ $? == 0 ]] && echo ok || echo fail)" "$anp"

# --- 8. scale to 5 and back to 1 ----------------------------------------------------------------
title "scale web-app to 5: IPVS follows"
t=$(date +%s)
show kubectl scale deployment web-app --replicas=5
if wait_for "$SCALE_TIMEOUT" rs_is node-a 192.168.1.10:30080 5; then
  dt=$(( $(date +%s) - t ))
  show ip netns exec node-a ipvsadm -Ln -t 192.168.1.10:30080
  promise "scale to 5: IPVS has 5 real servers within ${SCALE_TIMEOUT}s" ok "${dt}s"
  show ip netns exec node-b ipvsadm -Ln -t 192.168.1.11:30080
  show kubectl get pods -l app=web -o wide
  mapfile -t PODS < <(ready_web_pods)
  capture out ip netns exec client curl -s --max-time 5 -H 'Connection: close' "http://192.168.1.11:30080/[1-10]"
  seen=$(sort -u <<<"$out" | grep -xF -f <(printf '%s\n' "${PODS[@]}") | wc -l)
  [[ $seen == 5 ]]; promise "all 5 pods answer" "$([[ $? == 0 ]] && echo ok || echo fail)" "$seen of ${#PODS[@]}"
else
  show ip netns exec node-a ipvsadm -Ln -t 192.168.1.10:30080
  promise "scale to 5: IPVS has 5 real servers within ${SCALE_TIMEOUT}s" fail
fi

title "scale web-app to 1: IPVS follows, and the nodes without the pod still answer"
t=$(date +%s)
show kubectl scale deployment web-app --replicas=1
# Graceful termination: removed real servers with connections (TIME_WAIT
# ones included) stay at weight 0 until IPVS counts none, then go.
if wait_for "$SCALE_TIMEOUT" rs_is node-a 192.168.1.10:30080 1; then
  dt=$(( $(date +%s) - t ))
  show ip netns exec node-a ipvsadm -Ln -t 192.168.1.10:30080
  promise "scale to 1: IPVS has 1 real server of weight 1 within ${SCALE_TIMEOUT}s (the others drain at weight 0)" ok "${dt}s"
else
  show ip netns exec node-a ipvsadm -Ln -t 192.168.1.10:30080
  promise "scale to 1: IPVS has 1 real server of weight 1 within ${SCALE_TIMEOUT}s (the others drain at weight 0)" fail
fi
wait_for 60 web_pods_are 1
show kubectl get pods -l app=web -o wide
LAST=$(ready_web_pods | head -n1)
LAST_NODE=$(kubectl get pod "$LAST" -o jsonpath='{.spec.nodeName}' 2>/dev/null)
cross_ok=ok others=()
for i in 0 1 2; do
  [[ ${NODES[$i]} == "$LAST_NODE" ]] && continue
  others+=("${NODE_IPS[$i]}")
  capture out ip netns exec client curl -s --max-time 5 -H 'Connection: close' "http://${NODE_IPS[$i]}:30080/[1-3]"
  [[ $(grep -cxF "$LAST" <<<"$out") == 3 ]] || cross_ok=fail
done
[[ ${#others[@]} == 2 ]] || cross_ok=fail
promise "NodePort on nodes without a local pod (${others[*]}) forwards to $LAST on $LAST_NODE" "$cross_ok"
left=$(ip netns list | grep -c '^web-app-[a-z0-9]*-[a-z0-9]*\( \|$\)' | tr -d ' ')
[[ $left == 1 ]]; promise "scaled-down pods' network namespaces are gone" "$([[ $? == 0 ]] && echo ok || echo fail)" "$left web pod netns left"

title "drained real servers go once IPVS counts no connection to them (IPVS keeps TIME_WAIT entries ~2 min)"
if wait_for "${DRAIN_TIMEOUT:-240}" rs_exactly node-a 192.168.1.10:30080 1; then
  dt=$(( $(date +%s) - t ))
  show ip netns exec node-a ipvsadm -Ln -t 192.168.1.10:30080
  promise "drained real servers removed, no weight-0 leftovers" ok "${dt}s after the scale-down"
else
  show ip netns exec node-a ipvsadm -Ln -t 192.168.1.10:30080
  promise "drained real servers removed, no weight-0 leftovers" fail
fi

verdict
