package rules

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/internal/netnstest"
)

// TestKernelMidStreamKeepsAddresses: a connection established while nothing
// in the namespace needs conntrack (no rules yet: the kernel does not track
// it, as on a node where kube-proxy stopped before its first sync wrote its
// rules) keeps working when our rules arrive and mark its traffic for
// masquerade: conntrack, switched on by our rules, picks the connection up
// mid-stream, and IPVS-PROXY-POSTROUTING must leave that packet's addresses
// alone (masquerading it would change the source half way, and the server
// would answer the unknown four-tuple with a RST). No IPVS: the node's own
// connection to a cluster IP is marked in nat OUTPUT like any such
// connection, and a server listens on the cluster IP itself.
func TestKernelMidStreamKeepsAddresses(t *testing.T) {
	n := newKernelNS(t, IPv4)
	k, err := New(Config{Prefix: n.prefix})
	if err != nil {
		t.Skipf("kernel test: %v", err)
	}
	const (
		vip  = "10.96.0.10"   // a cluster IP with Service port 80
		node = "192.168.1.10" // the node's address: outside the cluster CIDR, so marked
	)
	n.run("ip", "link", "set", "lo", "up")
	for _, a := range []string{vip, node} {
		n.run("ip", "addr", "add", a+"/32", "dev", "lo")
	}

	// An echo server on the cluster IP, and one connection to it from the
	// node address, made before any rule exists.
	var conn net.Conn
	netnstest.Run(t, n.name, func() {
		l, err := net.Listen("tcp", vip+":80")
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
				go func() {
					defer c.Close()
					r := bufio.NewReader(c)
					for {
						line, err := r.ReadString('\n')
						if err != nil {
							return
						}
						if _, err := c.Write([]byte(line)); err != nil {
							return
						}
					}
				}()
			}
		}()
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(node)}}
		if conn, err = d.Dial("tcp", vip+":80"); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { conn.Close() })
	r := bufio.NewReader(conn)
	echo := func(msg string) error {
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := conn.Write([]byte(msg + "\n")); err != nil {
			return err
		}
		got, err := r.ReadString('\n')
		if err == nil && strings.TrimSpace(got) != msg {
			t.Errorf("echo %q: got %q", msg, got)
		}
		return err
	}
	if err := echo("before"); err != nil {
		t.Fatalf("before our rules: %v", err)
	}
	if out, _ := n.exec("conntrack", "-L"); strings.Contains(string(out), "dport=80 ") {
		t.Logf("conntrack already tracks the connection (the test then proves less):\n%s", out)
	}

	s := spec(IPv4, "10.244.0.0/16")
	for name, typ := range map[string]string{s.ClusterIPSet: "hash:ip,port", s.NodePortSet: "hash:ip,port", s.HairpinSet: "hash:ip,port,ip"} {
		if _, err := n.exec("ipset", "list", "-n", name); err != nil {
			n.run("ipset", "create", name, typ, "family", "inet")
		}
	}
	n.run("ipset", "add", s.ClusterIPSet, vip+",tcp:80")
	if err := k.Apply(For(s)); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for _, msg := range []string{"after", "again"} {
		if err := echo(msg); err != nil {
			t.Fatalf("the connection made before our rules, %s them: %v", msg, err)
		}
	}
	// The pick-up went through the mid-stream rule, and a new connection
	// is still masqueraded (the marked rule counts it).
	save := n.run("iptables-save", "-c", "-t", "nat")
	var midStreamRule, masqRule string
	for _, l := range strings.Split(save, "\n") {
		switch {
		case strings.Contains(l, midStreamComment):
			midStreamRule = l
		case strings.Contains(l, "service traffic requiring SNAT"):
			masqRule = l
		}
	}
	if !strings.HasPrefix(midStreamRule, "[1:") {
		t.Errorf("the mid-stream rule should have let one picked-up packet through: %q", midStreamRule)
	}
	netnstest.Run(t, n.name, func() {
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(node)}}
		c, err := d.Dial("tcp", vip+":80")
		if err != nil {
			t.Errorf("a new connection after our rules: %v", err)
			return
		}
		c.Close()
	})
	save = n.run("iptables-save", "-c", "-t", "nat")
	for _, l := range strings.Split(save, "\n") {
		if strings.Contains(l, "service traffic requiring SNAT") {
			masqRule = l
		}
	}
	if !strings.HasPrefix(masqRule, "[1:") {
		t.Errorf("a new marked connection should be masqueraded once: %q", masqRule)
	}
}
