package rules

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/internal/netnstest"
)

// TestKernelFilterPackets sends real connections through the external filter
// chains in a fresh network namespace (no IPVS needed: the filter table sees
// the packets before IPVS would): a VIP exposes no host port but its Service
// port, load-balancer source ranges admit only their sources, and a
// firewall's ACCEPT inserted above our jumps is undone by the next Apply.
// The VIPs sit on lo here (the dummy link in production); a host socket
// listens on every address, as sshd or the kubelet do.
func TestKernelFilterPackets(t *testing.T) {
	n := newKernelNS(t, IPv4)
	k, err := New(Config{Prefix: n.prefix})
	if err != nil {
		t.Skipf("kernel test: %v", err)
	}
	s := specExternal(IPv4)
	for name, typ := range setTypes(s) {
		if _, err := n.exec("ipset", "list", "-n", name); err != nil {
			n.run("ipset", "create", name, typ, "family", "inet")
		}
	}
	const (
		vip     = "10.96.0.10"   // a ClusterIP with Service port 80
		lbIP    = "198.51.100.9" // a load balancer IP with Service port 443 and a source range
		inside  = "203.0.113.5"  // a client address inside the range
		outside = "192.0.2.5"    // a client address outside it
		node    = "192.168.1.10" // the node's own address
	)
	n.run("ip", "link", "set", "lo", "up")
	for _, a := range []string{vip, lbIP, inside, outside, node} {
		n.run("ip", "addr", "add", a+"/32", "dev", "lo")
	}
	x := s.External
	n.run("ipset", "add", s.ClusterIPSet, vip+",tcp:80")
	n.run("ipset", "add", x.VIPs, vip)
	n.run("ipset", "add", x.VIPs, lbIP)
	n.run("ipset", "add", x.LoadBalancer, lbIP+",tcp:443")
	n.run("ipset", "add", x.LBFirewall, lbIP+",tcp:443")
	n.run("ipset", "add", x.LBSourceCIDR, lbIP+",tcp:443,203.0.113.0/24")
	// Only the filter table: connections made inside one namespace leave
	// through nat OUTPUT and POSTROUTING, where our nat rules would
	// masquerade them (external traffic is marked in PREROUTING and
	// masqueraded only after IPVS has forwarded it, past the filter).
	// The mangle table (the node's own access to load balancers) comes last.
	full := For(s)
	rs := full
	rs.Tables = rs.Tables[1:2]
	if rs.Tables[0].Name != "filter" || full.Tables[2].Name != "mangle" {
		t.Fatalf("For's tables: %v", full)
	}
	if err := k.Apply(rs); err != nil {
		t.Fatalf("Apply: %v", err)
	}

	// dial connects from src to dst:port inside the namespace: nil when
	// accepted, ECONNREFUSED when rejected, a timeout when dropped.
	dial := func(src, dst, port string) (err error) {
		netnstest.Run(t, n.name, func() {
			d := net.Dialer{Timeout: 700 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			var c net.Conn
			if c, err = d.Dial("tcp", net.JoinHostPort(dst, port)); err == nil {
				c.Close()
			}
		})
		return err
	}
	refused := func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
	timeout := func(err error) bool {
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}
	netnstest.Run(t, n.name, func() {
		for _, p := range []string{"22", "80", "443"} {
			l, err := net.Listen("tcp", "0.0.0.0:"+p)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
		}
	})

	check := func(when string) {
		t.Helper()
		if err := dial(node, node, "22"); err != nil {
			t.Errorf("%s: the host socket on the node address: %v", when, err)
		}
		if err := dial(node, vip, "22"); !refused(err) {
			t.Errorf("%s: host port 22 through the ClusterIP: %v, want refused", when, err)
		}
		if err := dial(node, vip, "80"); err != nil {
			t.Errorf("%s: the Service port of the ClusterIP: %v", when, err)
		}
		if err := dial(node, lbIP, "22"); !refused(err) {
			t.Errorf("%s: host port 22 through the load balancer IP: %v, want refused", when, err)
		}
		if err := dial(inside, lbIP, "443"); err != nil {
			t.Errorf("%s: load balancer from inside the source range: %v", when, err)
		}
		if err := dial(outside, lbIP, "443"); !timeout(err) {
			t.Errorf("%s: load balancer from outside the source range: %v, want dropped (timeout)", when, err)
		}
	}
	check("after Apply")

	// A firewall inserts an early ACCEPT above our jumps: traffic bypasses
	// our filter until the next Apply puts our jumps first again.
	n.run("iptables", "-I", "INPUT", "1", "-p", "tcp", "-m", "comment", "--comment", "early-accept", "-j", "ACCEPT")
	if err := dial(node, vip, "22"); err != nil {
		t.Fatalf("the early ACCEPT should bypass the filter before the resync: %v", err)
	}
	if err := k.Apply(rs); err != nil {
		t.Fatal(err)
	}
	if save := n.run("iptables-save", "-t", "filter"); strings.Index(save, "early-accept") < strings.Index(save, "-A INPUT -m comment --comment \"ipvs-proxy service address filter\"") {
		t.Fatalf("the early ACCEPT is still above our jumps:\n%s", save)
	}
	check("after the resync")

	// With the mangle table, the node's own connections to the load
	// balancer are dropped (no node address in its source ranges), even
	// from a source inside them; an LB-SOURCE-IP member (a node address in
	// a range) lets them in. The ClusterIP is not concerned.
	if err := k.Apply(full); err != nil {
		t.Fatal(err)
	}
	if got, err := k.Dump(IPv4); err != nil || got.String() != full.String() {
		t.Fatalf("Dump with mangle: %v\n%s\nwant:\n%s", err, got, full)
	}
	if err := dial(inside, lbIP, "443"); !timeout(err) {
		t.Errorf("node-local connection to a load balancer excluding the node: %v, want dropped", err)
	}
	if err := dial(node, vip, "80"); err != nil {
		t.Errorf("the ClusterIP with the mangle table: %v", err)
	}
	n.run("ipset", "add", x.LBSourceIP, lbIP+",tcp:443,"+lbIP)
	if err := dial(inside, lbIP, "443"); err != nil {
		t.Errorf("node-local connection to a load balancer whose ranges include the node: %v", err)
	}
}
