package controllers

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

// fakeKubeProxyChains stands in for rules.Kernel.RemoveChains: kube-proxy's
// nat chain KUBE-SERVICES and its jump exist (IPv4) until removed.
type fakeKubeProxyChains struct{ removed int }

func (f *fakeKubeProxyChains) RemoveChains(fam rules.Family, table string, _ []string, dryRun bool) ([]string, error) {
	if fam != rules.IPv4 || table != "nat" || f.removed > 0 {
		return nil, nil
	}
	if !dryRun {
		f.removed++
	}
	return []string{"-D PREROUTING -j KUBE-SERVICES", "-X KUBE-SERVICES"}, nil
}

// kubeProxyLeft puts into fk what kube-proxy's IPVS mode leaves for
// webAndDNS, plus a virtual server of a Service deleted since (10.96.0.99)
// and one that is nobody's on a foreign address: its virtual servers with
// other real servers (10.244.1.1 missing, 10.244.9.9 extra), its addresses
// on kube-ipvs0, its KUBE-CLUSTER-IP members and its NodePort set.
func kubeProxyLeft(t *testing.T, fk *fakeKernel) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{"tcp 10.96.0.10:80", "tcp 192.168.1.10:30080", "udp 10.96.0.53:53", "tcp 10.96.0.99:80", "tcp 172.16.0.1:80"} {
		k := mustKey(s)
		must(fk.ipvs.AddVirtualServer(ipvs.VirtualServer{Key: k, Scheduler: "rr"}))
		port := ":8080"
		if k.Protocol == ipvs.UDP {
			port = ":5353"
		}
		for _, a := range []string{"10.244.2.2", "10.244.3.3", "10.244.9.9"} {
			must(fk.ipvs.AddRealServer(k, rs(a+port)))
		}
	}
	fk.links.AddLink(dummy, "dummy", netip.MustParseAddr("10.96.0.10"), netip.MustParseAddr("10.96.0.53"), netip.MustParseAddr("10.96.0.99"))
	must(fk.sets.Ensure(ipset.Set{Name: "KUBE-CLUSTER-IP", Type: ipset.HashIPPort, Family: "inet"}))
	for _, e := range []string{"10.96.0.10,tcp:80", "10.96.0.53,udp:53", "10.96.0.99,tcp:80"} {
		ip, pp, _ := strings.Cut(e, ",")
		proto, port, _ := strings.Cut(pp, ":")
		n := 0
		for _, c := range port {
			n = n*10 + int(c-'0')
		}
		must(fk.sets.Add("KUBE-CLUSTER-IP", ipset.Entry{IP: netip.MustParseAddr(ip), Protocol: proto, Port: uint16(n)}))
	}
	// kube-proxy's KUBE-NODE-PORT-TCP is bitmap:port, which the fake does
	// not model; its presence is what counts.
	must(fk.sets.Ensure(ipset.Set{Name: "KUBE-NODE-PORT-TCP", Type: ipset.HashIP, Family: "inet"}))
}

// A takeover adopts kube-proxy's virtual servers that the desired state
// wants in place (none deleted or re-created; real servers edited), then
// removes its leftovers: the stale virtual server it owned, its address,
// its chains and sets; the foreign virtual server on no node address stays.
// The next full sync changes nothing.
func TestTakeOverAdoptsInPlaceThenRemovesLeftovers(t *testing.T) {
	fk := newFakeKernel()
	kubeProxyLeft(t, fk)
	r := newTestReconciler(t, fk)
	chains := &fakeKubeProxyChains{}
	r.EnableTakeOver(chains)
	src := webAndDNS()
	fk.resetCalls()
	res := mustFull(t, r, src)
	if res.TakeOver == nil || !res.TakeOver.Done || res.TakeOver.Adopted != 3 {
		t.Fatalf("TakeOver = %+v, want done with 3 adopted", res.TakeOver)
	}
	if got := res.TakeOver.Removed.String(); !strings.Contains(got, "ipvsadm -D -t 10.96.0.99:80\n") || strings.Contains(got, "172.16.0.1") {
		t.Errorf("removed:\n%s", got)
	}
	c := fk.ipvs.Calls()
	if c.AddVirtualServer != 0 || c.DeleteVirtualServer != 1 {
		t.Errorf("ipvs calls = %+v; want no add and only the stale one deleted", c)
	}
	for _, k := range c.Touched {
		if k.Address.String() == "172.16.0.1" {
			t.Errorf("foreign %s touched", k)
		}
	}
	for n, p := range res.Problems {
		if p != nil {
			t.Errorf("problems of %s: %v", n, p)
		}
	}
	assertText(t, "ipvsadm -Sn", fk.ipvs.String(), "-A -t 172.16.0.1:80 -s rr\n"+
		"-a -t 172.16.0.1:80 -r 10.244.2.2:8080 -m -w 1\n-a -t 172.16.0.1:80 -r 10.244.3.3:8080 -m -w 1\n-a -t 172.16.0.1:80 -r 10.244.9.9:8080 -m -w 1\n"+
		webAndDNSIPVS)
	if got := strings.Join(fk.dummyAddrs(), " "); got != "10.96.0.10 10.96.0.53" {
		t.Errorf("kube-ipvs0 = %s", got)
	}
	for _, s := range fk.sets.Sets() {
		if strings.HasPrefix(s.Name, "KUBE-") {
			t.Errorf("kube-proxy's set %s left", s.Name)
		}
	}
	if chains.removed != 1 {
		t.Errorf("kube-proxy's chains removed %d times", chains.removed)
	}
	if r.TakingOver() {
		t.Error("still taking over")
	}
	m := fk.resetCalls()
	if res := mustFull(t, r, src); res.TakeOver != nil {
		t.Errorf("second full sync: TakeOver = %+v", res.TakeOver)
	}
	assertNoMutations(t, fk, m)
}

// Without a takeover (takeover: off, or kube-proxy still answering),
// kube-proxy's virtual servers stay foreign but for the ClusterIP ones that
// match the desired state exactly and sit on the dummy link (the ledger's
// own restart rule, ledger.Adopt): the NodePort one, the stale one and its
// sets are not touched, and the Service that collides gets a problem.
func TestTakeOverOffLeavesKubeProxyAlone(t *testing.T) {
	fk := newFakeKernel()
	kubeProxyLeft(t, fk)
	r := newTestReconciler(t, fk)
	fk.resetCalls()
	res := mustFull(t, r, webAndDNS())
	if res.TakeOver != nil {
		t.Errorf("TakeOver = %+v", res.TakeOver)
	}
	c := fk.ipvs.Calls()
	if c.AddVirtualServer != 0 || c.DeleteVirtualServer != 0 {
		t.Errorf("ipvs calls = %+v", c)
	}
	for _, k := range c.Touched {
		switch k.String() {
		case "-t 192.168.1.10:30080", "-t 10.96.0.99:80", "-t 172.16.0.1:80":
			t.Errorf("kube-proxy's %s touched", k)
		}
	}
	if got := problemsOf(res, "default/web"); !strings.Contains(got, "-t 192.168.1.10:30080 already exists") {
		t.Errorf("problems of web = %q", got)
	}
	if !kubeProxyState(fk.sets) {
		t.Error("kube-proxy's sets removed")
	}
}

// A failed leftover removal keeps the takeover on; the next full sync
// finishes it.
func TestTakeOverRetriesLeftovers(t *testing.T) {
	fk := newFakeKernel()
	kubeProxyLeft(t, fk)
	r := newTestReconciler(t, fk)
	r.EnableTakeOver(&fakeKubeProxyChains{})
	fk.ipvs.FailNext(ipvs.OpDeleteVirtualServer, errString("device or resource busy"))
	res, err := r.Full(t.Context(), webAndDNS())
	if err == nil || res.TakeOver == nil || res.TakeOver.Done || !r.TakingOver() {
		t.Fatalf("Full = %v, TakeOver %+v; want an error and the takeover still on", err, res.TakeOver)
	}
	res = mustFull(t, r, webAndDNS())
	if res.TakeOver == nil || !res.TakeOver.Done || res.TakeOver.Adopted != 3 {
		t.Errorf("retry: TakeOver = %+v", res.TakeOver)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestDecideTakeOver(t *testing.T) {
	for _, tc := range []struct {
		mode      string
		present   bool
		answering []string
		want      bool
	}{
		{v1alpha1.TakeoverAuto, true, nil, true},
		{v1alpha1.TakeoverAuto, false, nil, false},
		{v1alpha1.TakeoverAuto, true, []string{"127.0.0.1:10256"}, false},
		{v1alpha1.TakeoverOff, true, nil, false},
	} {
		if got, why := decideTakeOver(tc.mode, tc.present, tc.answering); got != tc.want || why == "" {
			t.Errorf("decideTakeOver(%s, %v, %v) = %v, %q; want %v", tc.mode, tc.present, tc.answering, got, why, tc.want)
		}
	}
	fk := newFakeKernel()
	if kubeProxyState(fk.sets) {
		t.Error("kube-proxy state found on a clean node")
	}
	kubeProxyLeft(t, fk)
	if !kubeProxyState(fk.sets) {
		t.Error("kube-proxy state not found")
	}
}
