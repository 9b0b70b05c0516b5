#!/bin/bash
# Smoke check of ipvs-proxy run (drain, host settings) in the sandbox.
D=${SMOKE_DIR:-/tmp/host-smoke}
K="$D/kubectl --kubeconfig $D/cp/admin-guest.kubeconfig"
PY=/usr/bin/python3
ip link add pods type dummy; ip link set pods up
ip addr add 10.244.0.11/32 dev pods; ip addr add 10.244.0.12/32 dev pods
ip link set lo up
$PY $D/server.py 10.244.0.11 & $PY $D/server.py 10.244.0.12 &
$D/ipvs-proxy run --kubeconfig $D/cp/ipvs-proxy-guest.kubeconfig --node-name smoke --min-sync-period 100ms \
  --drain-check-period 1s --drain-timeout 60s --strict-arp --ipvs-udp-timeout 30s -v 2 >$D/proxy.log 2>&1 &
slice() { # slice IP...
  echo "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:"
  for a in "$@"; do echo "- {addresses: [\"$a\"], conditions: {ready: true}}"; done
}
cat <<Y | $K apply -f -
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.77.77, ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]}
Y
slice 10.244.0.11 10.244.0.12 | $K apply -f -
for i in $(seq 100); do [ "$(ipvsadm -Ln -t 10.96.77.77:80 2>/dev/null | grep -c '\->.*10.244')" = 2 ] && break; sleep 0.2; done
echo "### programmed"; ipvsadm -Ln -t 10.96.77.77:80
mkdir -p /run/s; mkfifo /run/s/in; ($PY $D/client.py </run/s/in >/run/s/client.out 2>&1 &); exec 3>/run/s/in
echo ask >&3; sleep 1; cat /run/s/client.out
held=$(awk '{print $NF}' /run/s/client.out | tail -1); other=10.244.0.12; [ "$held" = 10.244.0.12 ] && other=10.244.0.11
echo "### remove endpoint $held (it holds the connection)"
slice $other | $K apply -f -; sleep 3
ipvsadm -Ln -t 10.96.77.77:80
echo ask >&3; sleep 1; tail -1 /run/s/client.out
echo "### new connection:"; echo who | timeout 3 nc -q1 10.96.77.77 80 || $PY -c "
import socket; c=socket.create_connection(('10.96.77.77',80),timeout=3); c.sendall(b'who\n'); print(c.recv(100).decode().strip())"
echo "### endpoint $held comes back"
slice 10.244.0.11 10.244.0.12 | $K apply -f -; sleep 3
ipvsadm -Ln -t 10.96.77.77:80
echo ask >&3; sleep 1; tail -1 /run/s/client.out
echo "### removed again; wait for drainTimeout (60s) with the connection open"
slice $other | $K apply -f -; sleep 2; ipvsadm -Ln -t 10.96.77.77:80
sleep 70; ipvsadm -Ln -t 10.96.77.77:80
echo "### host settings"
sysctl net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce net.ipv4.vs.conntrack net.ipv4.vs.conn_reuse_mode net.ipv6.conf.all.forwarding
ipvsadm -L --timeout; uname -r
echo "### ipvs-proxy log (host / drain / real server lines)"
grep -E 'host setting|starting|real server|drain' $D/proxy.log | cut -c1-400
