#!/bin/bash
# Runs inside the sandbox guest (hack/sandbox-selftest.sh): two "pod" network
# namespaces serving HTTP (busybox httpd) behind an IPVS NAT virtual server
# on a dummy link, reached from a "client" namespace and from the root
# namespace. Modules are NOT preloaded: this also proves they autoload.
# HTTP client: bash's /dev/tcp. Under TCG curl (40 shared libs) takes 1-5 s
# to start, and busybox-static's wget segfaults (static glibc).
set -euo pipefail
VIP=10.96.0.10
www=$(mktemp -d)
cat >$www/get.sh <<'GET'
exec 3<>/dev/tcp/$1/$2 || exit 1
printf 'GET / HTTP/1.0\r\n\r\n' >&3
sed '1,/^\r\{0,1\}$/d' <&3
GET
get() { timeout 10 bash $www/get.sh "$@"; }  # get IP PORT

sysctl -qw net.ipv4.ip_forward=1
ip link add kube-ipvs0 type dummy
ip addr add $VIP/32 dev kube-ipvs0

for i in 1 2; do
  ns=pod$i
  ip netns add $ns
  ip link add vpod$i type veth peer name eth0 netns $ns
  ip addr add 10.244.$i.1/24 dev vpod$i
  ip link set vpod$i up
  ip -n $ns addr add 10.244.$i.2/24 dev eth0
  ip -n $ns link set lo up
  ip -n $ns link set eth0 up
  ip -n $ns route add default via 10.244.$i.1
  mkdir -p $www/$ns
  echo "hello from $ns" >$www/$ns/index.html
  ip netns exec $ns busybox httpd -p 8080 -h $www/$ns
done

ip netns add client
ip link add vclient type veth peer name eth0 netns client
ip addr add 10.250.0.1/24 dev vclient
ip link set vclient up
ip -n client addr add 10.250.0.2/24 dev eth0
ip -n client link set lo up
ip -n client link set eth0 up
ip -n client route add default via 10.250.0.1

ipvsadm -A -t $VIP:80 -s rr # ipvsadm modprobes ip_vs itself when missing
sysctl -qw net.ipv4.vs.conntrack=1
ipvsadm -a -t $VIP:80 -r 10.244.1.2:8080 -m
ipvsadm -a -t $VIP:80 -r 10.244.2.2:8080 -m
ipvsadm -Ln
# Hairpin needs SNAT (as kube-proxy does): masquerade pod-sourced IPVS traffic.
# Also exercises iptables (nft backend), xt_ipvs and ipset module autoload.
iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -j MASQUERADE
ipset create KUBE-CLUSTER-IP hash:ip,port
ipset add KUBE-CLUSTER-IP $VIP,tcp:80
iptables -t filter -A INPUT -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
ipset list KUBE-CLUSTER-IP | tail -n1

# Wait for the servers.
for i in 1 2; do
  for _ in $(seq 50); do
    get 10.244.$i.2 8080 >/dev/null 2>&1 && break
    sleep 0.2
  done
done

got=$(for _ in 1 2 3 4; do ip netns exec client timeout 10 bash $www/get.sh $VIP 80; done)
echo "client ns -> $VIP:"; echo "$got"
[[ $(grep -c 'hello from pod1' <<<"$got") == 2 && $(grep -c 'hello from pod2' <<<"$got") == 2 ]] || {
  echo "FAIL: expected round robin over pod1/pod2 from the client namespace" >&2; exit 1; }

got=$(for _ in 1 2; do get $VIP 80; done)
echo "root ns -> $VIP:"; echo "$got"
[[ $(sort -u <<<"$got" | wc -l) == 2 ]] || { echo "FAIL: root namespace round robin" >&2; exit 1; }

# Hairpin: pod1 reaches the VIP and may land on itself.
got=$(for _ in 1 2; do ip netns exec pod1 timeout 10 bash $www/get.sh $VIP 80; done)
echo "pod1 -> $VIP (hairpin):"; echo "$got"
[[ $(sort -u <<<"$got" | wc -l) == 2 ]] || { echo "FAIL: hairpin round robin" >&2; exit 1; }

ipvsadm -Ln --stats
echo "loaded:" $(cut -d' ' -f1 /proc/modules | grep -E '^(ip_vs|dummy|veth|nf_conntrack)' | sort | tr '\n' ' ')
echo IPVS-OK
