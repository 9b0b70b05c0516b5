//go:build linux

package conntrack

import (
	"net"
	"os"
	"os/exec"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/internal/netnstest"
)

// The Kernel test creates conntrack entries in a fresh network namespace,
// deletes with Netlink and lists what is left; it skips without root:
//
//	go test -c -o /tmp/ct.test ./conntrack && hack/sandbox -- /tmp/ct.test -test.v -test.run Kernel
func TestKernelDelete(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("kernel conntrack test: needs root (run the test binary in hack/sandbox)")
	}
	_ = exec.Command("modprobe", "nf_conntrack_netlink").Run()
	netnstest.Fresh(t)

	mk := func(proto uint8, client string, cport uint16, dst string, dport uint16, rsrc string, rport uint16) *netlink.ConntrackFlow {
		return &netlink.ConntrackFlow{
			FamilyType: unix.AF_INET,
			Forward:    netlink.IPTuple{Protocol: proto, SrcIP: net.ParseIP(client).To4(), SrcPort: cport, DstIP: net.ParseIP(dst).To4(), DstPort: dport},
			Reverse:    netlink.IPTuple{Protocol: proto, SrcIP: net.ParseIP(rsrc).To4(), SrcPort: rport, DstIP: net.ParseIP(client).To4(), DstPort: cport},
			TimeOut:    300,
		}
	}
	for _, f := range []*netlink.ConntrackFlow{
		mk(unix.IPPROTO_UDP, "10.244.3.3", 40000, "10.96.0.10", 53, "10.244.1.5", 53), // to the removed endpoint
		mk(unix.IPPROTO_UDP, "10.244.3.3", 40001, "10.96.0.10", 53, "10.244.2.5", 53), // to another endpoint
		mk(unix.IPPROTO_UDP, "10.244.3.3", 40002, "10.96.0.99", 53, "10.244.1.5", 53), // another Service
	} {
		if err := netlink.ConntrackCreate(netlink.ConntrackTable, unix.AF_INET, f); err != nil {
			t.Skipf("kernel conntrack test: create entry: %v", err)
		}
	}
	n, err := Netlink{}.Delete([]Filter{{Kind: ToEndpoint, Protocol: 17,
		Service: mustAP("10.96.0.10:53"), Endpoint: mustAP("10.244.1.5:53")}})
	if err != nil || n != 1 {
		t.Fatalf("Delete = %d, %v; want 1", n, err)
	}
	left, err := netlink.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	var ports []uint16
	for _, f := range left {
		if FromNetlink(f).Protocol == 17 {
			ports = append(ports, f.Forward.SrcPort)
		}
	}
	if len(ports) != 2 || ports[0] == 40000 || ports[1] == 40000 {
		t.Errorf("left flows from client ports %v; want 40001 and 40002", ports)
	}
}
