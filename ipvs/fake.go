package ipvs

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"syscall"
)

// Op names an Interface method, for Fake's fault injection and call counts.
type Op string

// The operations of Interface.
const (
	OpDump                Op = "Dump"
	OpServices            Op = "Services"
	OpRealServers         Op = "RealServers"
	OpAddVirtualServer    Op = "AddVirtualServer"
	OpUpdateVirtualServer Op = "UpdateVirtualServer"
	OpDeleteVirtualServer Op = "DeleteVirtualServer"
	OpAddRealServer       Op = "AddRealServer"
	OpUpdateRealServer    Op = "UpdateRealServer"
	OpDeleteRealServer    Op = "DeleteRealServer"
)

// Calls counts the calls made on a Fake since NewFake or ResetCalls, failed
// ones (refused or injected) included: each is one request to the kernel.
type Calls struct {
	Dump                int
	Services            int
	RealServers         int
	AddVirtualServer    int
	UpdateVirtualServer int
	DeleteVirtualServer int
	AddRealServer       int
	UpdateRealServer    int
	DeleteRealServer    int
	// Touched lists the virtual servers named by the mutating calls,
	// without repetition, in Key.Compare order.
	Touched []Key
}

// Mutations is the number of add, update and delete calls.
func (c Calls) Mutations() int {
	return c.AddVirtualServer + c.UpdateVirtualServer + c.DeleteVirtualServer +
		c.AddRealServer + c.UpdateRealServer + c.DeleteRealServer
}

// Fake is an in-memory Interface that refuses what the kernel (through
// Kernel) refuses, with the same errno: EEXIST for a duplicate, ESRCH for a
// missing virtual server, ENOENT for a missing real server or an unknown
// scheduler, EINVAL for a real server of the other family, a non-unicast
// real server or port 0 on a non-persistent virtual server, ERANGE for a
// weight outside 0..65535. Errors read like Kernel's. It is safe for
// concurrent use and deterministic.
type Fake struct {
	mu       sync.Mutex
	services map[Key]*fakeService
	counts   map[Op]int
	touched  map[Key]struct{}
	failNext map[Op][]error
	hook     func(Op, Key) error
	timeouts Timeouts
	batches  int // Batch calls
}

type fakeService struct {
	vs VirtualServer
	// rss in RealServerKey.Compare order: a sorted slice of packed real
	// servers, not a map, so that a fake holding a million (the 100k
	// benchmarks) costs about what they weigh.
	rss   []fakeRS
	conns map[RealServerKey]Conns // made on the first SetConns
}

// find returns where r is in s.rss, or would be, and whether it is there.
func (s *fakeService) find(r RealServerKey) (int, bool) {
	return slices.BinarySearchFunc(s.rss, packRSKey(r), compareRS)
}

var _ Interface = (*Fake)(nil)

// NewFake returns an empty Fake.
func NewFake() *Fake {
	return &Fake{
		services: map[Key]*fakeService{},
		counts:   map[Op]int{},
		touched:  map[Key]struct{}{},
		failNext: map[Op][]error{},
	}
}

// FailNext makes the next call of op fail with err (wrapped like a kernel
// error) without changing anything. Successive FailNext calls for one op
// queue up: each fails one further call.
func (f *Fake) FailNext(op Op, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[op] = append(f.failNext[op], err)
}

// Inject installs hook, called before every call that FailNext did not
// already fail, with the operation and the virtual server it names (the
// zero Key for Dump). A non-nil result fails the call, wrapped like a kernel
// error, without changing anything. The hook runs without Fake's lock held,
// so it may call the Fake. Inject(nil) removes it.
func (f *Fake) Inject(hook func(op Op, k Key) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = hook
}

// Calls returns the call counts since NewFake or the last ResetCalls.
func (f *Fake) Calls() Calls {
	f.mu.Lock()
	defer f.mu.Unlock()
	touched := slices.SortedFunc(maps.Keys(f.touched), Key.Compare)
	return Calls{
		Dump:                f.counts[OpDump],
		Services:            f.counts[OpServices],
		RealServers:         f.counts[OpRealServers],
		AddVirtualServer:    f.counts[OpAddVirtualServer],
		UpdateVirtualServer: f.counts[OpUpdateVirtualServer],
		DeleteVirtualServer: f.counts[OpDeleteVirtualServer],
		AddRealServer:       f.counts[OpAddRealServer],
		UpdateRealServer:    f.counts[OpUpdateRealServer],
		DeleteRealServer:    f.counts[OpDeleteRealServer],
		Touched:             touched,
	}
}

// ResetCalls zeroes the call counts (not the state, nor pending failures).
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.counts)
	clear(f.touched)
}

// begin counts a call and returns the injected failure, if any.
func (f *Fake) begin(op Op, k Key) error {
	f.mu.Lock()
	f.counts[op]++
	if op != OpDump && op != OpServices && op != OpRealServers {
		f.touched[k] = struct{}{}
	}
	if q := f.failNext[op]; len(q) > 0 {
		err := q[0]
		f.failNext[op] = q[1:]
		f.mu.Unlock()
		return err
	}
	hook := f.hook
	f.mu.Unlock()
	if hook != nil {
		return hook(op, k)
	}
	return nil
}

// Dump returns every virtual server, in Key.Compare order, each with its
// real servers in RealServerKey.Compare order (nil when it has none).
func (f *Fake) Dump() ([]Service, error) {
	if err := f.begin(OpDump, Key{}); err != nil {
		return nil, fmt.Errorf("dump virtual servers: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dumpLocked(), nil
}

func (f *Fake) dumpLocked() []Service {
	out := make([]Service, 0, len(f.services))
	for _, s := range f.services {
		svc := Service{VirtualServer: s.vs}
		svc.RealServers, svc.Conns = s.realServers()
		out = append(out, svc)
	}
	slices.SortFunc(out, func(a, b Service) int { return a.Key.Compare(b.Key) })
	return out
}

// Services returns every virtual server in Key.Compare order, without real servers.
func (f *Fake) Services() ([]VirtualServer, error) {
	if err := f.begin(OpServices, Key{}); err != nil {
		return nil, fmt.Errorf("dump virtual servers: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]VirtualServer, 0, len(f.services))
	for _, s := range f.services {
		out = append(out, s.vs)
	}
	slices.SortFunc(out, func(a, b VirtualServer) int { return a.Key.Compare(b.Key) })
	return out, nil
}

// String renders the state as `ipvsadm -Sn` would (see Format).
func (f *Fake) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Format(f.dumpLocked())
}

// AddVirtualServer creates vs; EEXIST if its Key exists.
func (f *Fake) AddVirtualServer(vs VirtualServer) error {
	if err := f.addVirtualServer(vs); err != nil {
		return vsError("add", vs.Key, err)
	}
	return nil
}

func (f *Fake) addVirtualServer(vs VirtualServer) error {
	if err := f.begin(OpAddVirtualServer, vs.Key); err != nil {
		return err
	}
	if err := checkVirtualServer(vs); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.services[vs.Key]; ok {
		return syscall.EEXIST
	}
	if !knownScheduler(vs.Scheduler) {
		return fmt.Errorf("scheduler %q: %w", vs.Scheduler, syscall.ENOENT)
	}
	f.services[vs.Key] = &fakeService{vs: vs}
	return nil
}

// UpdateVirtualServer replaces scheduler and persistence; ESRCH if missing.
func (f *Fake) UpdateVirtualServer(vs VirtualServer) error {
	if err := f.updateVirtualServer(vs); err != nil {
		return vsError("update", vs.Key, err)
	}
	return nil
}

func (f *Fake) updateVirtualServer(vs VirtualServer) error {
	if err := f.begin(OpUpdateVirtualServer, vs.Key); err != nil {
		return err
	}
	if err := checkVirtualServer(vs); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[vs.Key]
	if !ok {
		return syscall.ESRCH
	}
	if !knownScheduler(vs.Scheduler) {
		return fmt.Errorf("scheduler %q: %w", vs.Scheduler, syscall.ENOENT)
	}
	s.vs = vs
	return nil
}

// DeleteVirtualServer removes k and its real servers; ESRCH if missing.
func (f *Fake) DeleteVirtualServer(k Key) error {
	if err := f.deleteVirtualServer(k); err != nil {
		return vsError("delete", k, err)
	}
	return nil
}

func (f *Fake) deleteVirtualServer(k Key) error {
	if err := f.begin(OpDeleteVirtualServer, k); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.services[k]; !ok {
		return syscall.ESRCH
	}
	delete(f.services, k)
	return nil
}

// AddRealServer adds rs to k: ESRCH if k is missing, EEXIST if rs exists.
func (f *Fake) AddRealServer(k Key, rs RealServer) error {
	if err := f.addRealServer(k, rs); err != nil {
		return rsError("add", k, rs.RealServerKey, err)
	}
	return nil
}

func (f *Fake) addRealServer(k Key, rs RealServer) error {
	if err := f.begin(OpAddRealServer, k); err != nil {
		return err
	}
	if err := checkRealServer(k, rs); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[k]
	if !ok {
		return syscall.ESRCH
	}
	i, ok := s.find(rs.RealServerKey)
	if ok {
		return syscall.EEXIST
	}
	if !unicast(rs.Address) {
		return fmt.Errorf("address not unicast: %w", syscall.EINVAL)
	}
	s.rss = slices.Insert(s.rss, i, packRS(rs))
	return nil
}

// UpdateRealServer replaces weight and forwarding: ESRCH if k is missing,
// ENOENT if rs is.
func (f *Fake) UpdateRealServer(k Key, rs RealServer) error {
	if err := f.updateRealServer(k, rs); err != nil {
		return rsError("update", k, rs.RealServerKey, err)
	}
	return nil
}

func (f *Fake) updateRealServer(k Key, rs RealServer) error {
	if err := f.begin(OpUpdateRealServer, k); err != nil {
		return err
	}
	if err := checkRealServer(k, rs); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[k]
	if !ok {
		return syscall.ESRCH
	}
	i, ok := s.find(rs.RealServerKey)
	if !ok {
		return syscall.ENOENT
	}
	s.rss[i] = packRS(rs)
	return nil
}

// DeleteRealServer removes r from k: ESRCH if k is missing, ENOENT if r is.
func (f *Fake) DeleteRealServer(k Key, r RealServerKey) error {
	if err := f.deleteRealServer(k, r); err != nil {
		return rsError("delete", k, r, err)
	}
	return nil
}

func (f *Fake) deleteRealServer(k Key, r RealServerKey) error {
	if err := f.begin(OpDeleteRealServer, k); err != nil {
		return err
	}
	if err := checkRealServerKey(k, r); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[k]
	if !ok {
		return syscall.ESRCH
	}
	i, ok := s.find(r)
	if !ok {
		return syscall.ENOENT
	}
	s.rss = slices.Delete(s.rss, i, i+1)
	delete(s.conns, r)
	return nil
}

// unicast reports whether the kernel's ip_vs_new_dest would take a as a
// destination: IPv4 neither zeronet, limited broadcast nor multicast; IPv6
// unicast and not link-local.
func unicast(a netip.Addr) bool {
	if a.Is4() {
		b := a.As4()
		return b[0] != 0 && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	return !a.IsUnspecified() && !a.IsMulticast() && !a.IsLinkLocalUnicast()
}
