package controllers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
)

// chaos fails kernel calls at random while on: mostly per-object refusals
// (EINVAL, ERANGE, EEXIST on adds), sometimes node-level ones. It never
// injects ENOENT/ESRCH on a delete: the executor rightly reads those as
// "already gone", which an injected one would not be.
type chaos struct {
	mu   sync.Mutex
	r    *rand.Rand
	on   bool
	rate float64 // chance that one call fails
	n    int     // faults injected
}

func (c *chaos) fault(add bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on || c.r.Float64() >= c.rate {
		return nil
	}
	c.n++
	switch x := c.r.IntN(10); {
	case x == 0:
		return errBoom // node-level
	case x < 4 && add:
		return syscall.EEXIST
	case x < 7:
		return syscall.ERANGE
	}
	return syscall.EINVAL
}

type chaosSets struct {
	ipset.Interface
	c *chaos
}

func (s chaosSets) Add(name string, e ipset.Entry) error {
	if err := s.c.fault(true); err != nil {
		return fmt.Errorf("ipset add %s %s: %w", name, e, err)
	}
	return s.Interface.Add(name, e)
}

func (s chaosSets) Del(name string, e ipset.Entry) error {
	if err := s.c.fault(false); err != nil {
		return fmt.Errorf("ipset del %s %s: %w", name, e, err)
	}
	return s.Interface.Del(name, e)
}

// Batch makes apply batch member operations, through the chaotic calls.
func (s chaosSets) Batch(ctx context.Context, ops []ipset.BatchOp) []error {
	return ipset.OneByOne(ctx, s, ops)
}

type chaosLinks struct {
	netif.Interface
	c *chaos
}

// Batch makes apply batch address operations, through the chaotic calls.
func (l chaosLinks) Batch(ctx context.Context, ops []netif.BatchOp) []error {
	return netif.OneByOne(ctx, l, ops)
}

func (l chaosLinks) AddAddress(link string, a netip.Addr) error {
	if err := l.c.fault(true); err != nil {
		return fmt.Errorf("add address %s: %w", a, err)
	}
	return l.Interface.AddAddress(link, a)
}

func (l chaosLinks) DelAddress(link string, a netip.Addr) error {
	if err := l.c.fault(false); err != nil {
		return fmt.Errorf("delete address %s: %w", a, err)
	}
	return l.Interface.DelAddress(link, a)
}

// world is a random cluster of a few Services over a few addresses, ports
// and pods, so that Services collide on virtual servers and share hairpin
// members and addresses.
type world struct {
	r   *rand.Rand
	src *mapSource
}

var (
	worldIPs   = []string{"10.96.0.1", "10.96.0.2", "10.96.0.3", "10.96.0.4"}
	worldPods  = []string{"10.244.1.1", "10.244.1.2", "10.244.2.1", "10.244.2.2", "10.244.3.1"}
	worldNames = []string{"default/a", "default/b", "default/c", "default/d", "kube-system/e", "kube-system/f"}
)

// change puts, changes or deletes one random Service and returns its name.
func (w *world) change() types.NamespacedName {
	r := w.r
	nsName := worldNames[r.IntN(len(worldNames))]
	n := nsn(nsName)
	if r.IntN(5) == 0 {
		w.src.del(n)
		return n
	}
	var opts []svcOpt
	proto := []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP}[r.IntN(2)]
	var nodePort int32
	if r.IntN(3) == 0 {
		nodePort = 30080 + int32(r.IntN(3))
	}
	opts = append(opts, port("p", proto, 80+int32(r.IntN(2)), nodePort))
	if r.IntN(4) == 0 {
		opts = append(opts, clientIP(600+int32(r.IntN(2))))
	}
	var eps []string
	for _, p := range worldPods {
		if r.IntN(2) == 0 {
			eps = append(eps, p)
		}
	}
	w.src.put(service(nsName, worldIPs[r.IntN(len(worldIPs))], opts...),
		epSlice(nsName+"-1", n.Name, "p", proto, 8080+int32(r.IntN(2)), eps...))
	return n
}

// The Reconciler against the pure oracle: random interleavings of full and
// incremental syncs (driven as the Controller drives them: failed
// Services retried incrementally, a failed sync retried as a full one) over
// random Service and slice changes, with random kernel faults and now and
// then a ledger set flushed or destroyed behind our back. After every sync
// the cache equals the kernel (once a full sync has run since a ledger
// loss) and every virtual server of ours is in the ledger (while none was
// lost); after the faults stop, one full sync reaches exactly the oracle's
// kernel, repairing any lost ledger, and a second changes nothing. PROPERTY_SEEDS=N runs N
// seeds (default 100), PROPERTY_SEED=N only seed N.
func TestReconcilerProperty(t *testing.T) {
	first, seeds := uint64(0), uint64(100)
	if n, err := strconv.ParseUint(os.Getenv("PROPERTY_SEEDS"), 10, 64); err == nil {
		seeds = n
	}
	if n, err := strconv.ParseUint(os.Getenv("PROPERTY_SEED"), 10, 64); err == nil {
		first, seeds = n, 1
	}
	for seed := first; seed < first+seeds; seed++ {
		if !t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { reconcilerProperty(t, seed) }) {
			t.Logf("reproduce: PROPERTY_SEED=%d go test ./controllers -run TestReconcilerProperty -v", seed)
		}
	}
}

// TestReconcilerPropertyAsyncAddresses is the property with every address
// run sent without waiting (batch.go: sendAsync), beside the rest of the
// plan. The fault draws interleave as the goroutines run, so a seed's run
// is not repeatable; the properties hold all the same.
func TestReconcilerPropertyAsyncAddresses(t *testing.T) {
	old := asyncAddrMin
	asyncAddrMin = 1
	defer func() { asyncAddrMin = old }()
	for seed := range uint64(40) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { reconcilerProperty(t, seed) })
	}
}

func reconcilerProperty(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x1bad))
	c := &chaos{r: rand.New(rand.NewPCG(seed, 0xfa17)), rate: 0.05 + 0.25*r.Float64()}
	fk := newFakeKernel()
	k := fk.Kernel
	k.Sets = chaosSets{fk.sets, c}
	k.Links = chaosLinks{fk.links, c}
	fk.ipvs.Inject(func(op ipvs.Op, _ ipvs.Key) error {
		switch op {
		case ipvs.OpDump:
			return nil
		case ipvs.OpAddVirtualServer, ipvs.OpAddRealServer:
			return c.fault(true)
		}
		return c.fault(false)
	})
	rec := NewReconciler(k, testConfig())
	w := &world{r: r, src: newSource()}
	for range 3 {
		w.change()
	}
	ctx := context.Background()
	var pending []types.NamespacedName // what the Controller would hand the next incremental sync
	needFull := true
	// A lost ledger (a set flushed or destroyed behind our back) makes the
	// cache untrue until a full sync has re-read the kernel, and leaves
	// virtual servers unrecorded until one has re-adopted them.
	lostEver := false
	steps := 15 + r.IntN(15)
	for step := range steps {
		for range r.IntN(3) {
			pending = append(pending, w.change())
		}
		if rec.Synced() && r.IntN(8) == 0 {
			set := []string{"IPVS-PROXY-CLUSTER-IP", "IPVS-PROXY-NODE-PORT"}[r.IntN(2)]
			if r.IntN(2) == 0 {
				flush(t, fk, set)
			} else if err := fk.sets.Destroy(set); err != nil {
				t.Fatal(err)
			}
			lostEver = true
			t.Logf("step %d: ledger set %s lost", step, set)
		}
		c.on = true
		full := needFull || r.IntN(5) == 0
		var res Result
		var err error
		if full {
			res, err = rec.Full(ctx, w.src)
		} else {
			res, err = rec.Incremental(ctx, w.src, pending)
		}
		c.on = false
		if testing.Verbose() {
			t.Logf("step %d: full=%v err=%v failed=%d repaired=%d", step, full, err, len(res.Failed), res.Repaired)
		}
		pending = append(pending[:0], res.Retry...)
		needFull = err != nil
		if err == nil && !rec.Synced() {
			t.Fatalf("step %d: a successful sync left the reconciler unsynced", step)
		}
		// Invariants after every sync, failed or not.
		if !lostEver {
			assertCacheTruthful(t, rec)
		}
		if !lostEver {
			assertLedgerCovers(t, fk)
		}
		if t.Failed() {
			t.Fatalf("step %d (full=%v, err=%v, %d faults so far):\nplan:\n%s", step, full, err, c.n, res.Plan)
		}
	}
	// Faults stop: one full sync converges, a second changes nothing.
	res, err := rec.Full(ctx, w.src)
	if err != nil {
		t.Fatalf("full sync without faults: %v", err)
	}
	if len(res.Failed) != 0 || len(res.Retry) != 0 {
		t.Fatalf("full sync without faults: Failed %v, Retry %v", res.Failed, res.Retry)
	}
	assertText(t, "kernel vs oracle", fk.dump(), oracle(t, w.src))
	assertCacheTruthful(t, rec)
	assertLedgerCovers(t, fk)
	m := fk.resetCalls()
	if res, err := rec.Full(ctx, w.src); err != nil || !res.Plan.Empty() {
		t.Fatalf("second full sync: err %v, plan:\n%s", err, res.Plan)
	}
	assertNoMutations(t, fk, m)
	t.Logf("%d steps, %d faults", steps, c.n)
}
