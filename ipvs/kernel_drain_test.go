//go:build linux

package ipvs

import (
	"net"
	"testing"
	"time"
)

// A real kernel drains as package drain assumes: a TCP connection through a
// virtual server is counted on its real server (RealServers), a real server
// at weight 0 takes no new connection while the one it has keeps working,
// and the count is what decides when it may go.
func TestKernelDrainCounts(t *testing.T) {
	k := newTestKernel(t)
	run(t, "ip", "addr", "add", "10.96.0.10/32", "dev", "rs0")
	run(t, "ip", "addr", "add", "10.244.1.5/32", "dev", "rs0")
	vs := vserver(TCP, "10.96.0.10:80", "rr", 0)
	a := rserver("10.244.1.5:8080", 1)
	must(t, k.AddVirtualServer(vs))
	must(t, k.AddRealServer(vs.Key, a))

	ln, err := net.Listen("tcp4", "10.244.1.5:8080") // from the namespace-locked goroutine
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // echo
				buf := make([]byte, 64)
				for {
					n, err := c.Read(buf)
					if err != nil {
						c.Close()
						return
					}
					_, _ = c.Write(buf[:n])
				}
			}()
		}
	}()
	conn, err := net.DialTimeout("tcp4", "10.96.0.10:80", 5*time.Second)
	if err != nil {
		t.Fatalf("dial through the virtual server: %v", err)
	}
	defer conn.Close()
	echo := func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		_, err := c.Read(buf)
		return err
	}
	must(t, echo(conn))
	_, conns, err := k.RealServers(vs.Key)
	must(t, err)
	if c := conns[a.RealServerKey]; c.Active != 1 {
		t.Fatalf("counts %+v after one established connection; want ActiveConn 1 (ipvsadm -Ln:\n%s)", conns, run(t, "ipvsadm", "-Ln"))
	}

	a.Weight = 0
	must(t, k.UpdateRealServer(vs.Key, a))
	if err := echo(conn); err != nil {
		t.Errorf("the established connection broke at weight 0: %v", err)
	}
	if c, err := net.DialTimeout("tcp4", "10.96.0.10:80", time.Second); err == nil {
		c.Close()
		t.Errorf("a new connection reached a weight-0 real server")
	}
	dump, err := k.Dump()
	must(t, err)
	if len(dump) != 1 || dump[0].Conns[a.RealServerKey].Active != 1 {
		t.Errorf("Dump conns = %+v; want the same count as RealServers", dump)
	}
}
