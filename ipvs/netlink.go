//go:build linux

package ipvs

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"syscall"

	mobyipvs "github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
)

// Kernel is the Interface on the kernel's IPVS through github.com/moby/ipvs:
// one generic netlink socket (a moby Handle), opened in the network
// namespace of the thread that called New, and one request per call. Calls
// are serialized: moby's Handle drops replies that are not for the request
// it is waiting on, so two concurrent requests on one socket can lose each
// other's acknowledgement and hang. Two more sockets of Kernel's own, in
// the same namespace, carry Batch (netlink_batch.go) and the dumps (Dump:
// one service dump plus one destination dump per service; Services;
// RealServers: netlink_dump.go), the latter under a lock of their own.
//
// What moby/ipvs costs per request, and what Kernel does about it:
//   - one socket per Handle, reused (good); New also runs `modprobe -va
//     ip_vs` once per process and resolves the "IPVS" family once per
//     process. If that resolution failed (no IPVS yet), moby silently talks
//     to family 0, for which the kernel acknowledges every request as done:
//     New checks the family itself and probes moby's Handle, and fails.
//   - per request: a getsockname syscall (to learn its own port id), a read
//     and a write deadline on the socket, a 64 KiB stack buffer, the message
//     assembled from ~15 small heap objects (encoding/binary reflection for
//     the port, a byte-by-byte serializer) and the reply copied once more.
//     That is a constant per object, no growth with the table: see
//     BenchmarkKernelColdStart. Kernel adds nothing per call: the moby
//     Service/Destination and the address bytes are scratch space reused
//     under the lock.
//   - the 3 s receive timeout does not bound a call: moby retries on EAGAIN
//     forever.
//   - it does not send the destination's address family, so the kernel
//     takes the service's; a real server of the other family, or an
//     IPv4-mapped IPv6 address, would be silently misread. Kernel refuses
//     them (EINVAL) before sending.
//   - it decodes only 16 bits of a destination's 32-bit weight: Kernel
//     refuses weights above 65535 (ERANGE).
type Kernel struct {
	mu sync.Mutex
	h  *mobyipvs.Handle
	bs *batchSocket // Batch's own socket (netlink_batch.go)

	// ds is the dumps' own socket (netlink_dump.go), used under dmu, and
	// rss the destination dump's scratch (its result is a copy).
	dmu sync.Mutex
	ds  *batchSocket
	rss []RealServer

	// Scratch reused under mu; moby keeps no pointer to them.
	svc          mobyipvs.Service
	dst          mobyipvs.Destination
	svcIP, dstIP [16]byte
}

var _ Interface = (*Kernel)(nil)

// New opens IPVS in the calling thread's network namespace. It fails (with
// the errno, ENOENT when the kernel has no "IPVS" netlink family) unless the
// kernel's IPVS answers.
func New() (*Kernel, error) {
	h, err := mobyipvs.New("")
	if err != nil {
		return nil, fmt.Errorf("open ipvs netlink socket: %w", err)
	}
	if err := probe(h); err != nil {
		h.Close()
		return nil, err
	}
	bs, err := openBatchSocket()
	if err != nil {
		h.Close()
		return nil, err
	}
	ds, err := openBatchSocket()
	if err != nil {
		h.Close()
		bs.close()
		return nil, err
	}
	return &Kernel{h: h, bs: bs, ds: ds}, nil
}

// probe makes sure requests on h reach IPVS (see Kernel).
func probe(h *mobyipvs.Handle) (err error) {
	if _, err := netlink.GenlFamilyGet("IPVS"); err != nil {
		return fmt.Errorf("ipvs not available in this kernel (modprobe ip_vs): %w", err)
	}
	defer func() {
		// moby indexes the (missing) reply of the config request when its
		// cached family id is 0 and the kernel merely acknowledged it.
		if recover() != nil {
			err = errors.New("ipvs: github.com/moby/ipvs cached no IPVS netlink family (ip_vs was loaded after this process first used it); restart the process")
		}
	}()
	if _, err := h.GetConfig(); err != nil {
		return fmt.Errorf("ipvs: get config: %w", err)
	}
	return nil
}

// Close closes the sockets. Later calls fail with net.ErrClosed.
func (k *Kernel) Close() error {
	k.mu.Lock()
	if k.h != nil {
		k.h.Close()
		k.h = nil
	}
	k.bs.close()
	k.bs = nil
	k.mu.Unlock()
	k.dmu.Lock()
	k.ds.close()
	k.ds = nil
	k.dmu.Unlock()
	return nil
}

var errClosed = fmt.Errorf("ipvs handle: %w", net.ErrClosed)

// Dump lists the kernel's virtual servers in Key.Compare order, each with
// its real servers in RealServerKey.Compare order (nil when none), foreign
// ones included with their own scheduler, persistence and forwarding.
// Firewall-mark services are left out: a Key cannot name them and
// ipvs-proxy never creates them, so the reconciler must neither see nor
// touch them.
func (k *Kernel) Dump() ([]Service, error) {
	k.dmu.Lock()
	defer k.dmu.Unlock()
	vss, err := k.servicesLocked()
	if err != nil {
		return nil, err
	}
	out := make([]Service, 0, len(vss))
	for _, vs := range vss {
		s := Service{VirtualServer: vs}
		s.RealServers, s.Conns, err = k.realServersLocked(vs.Key)
		if errors.Is(err, syscall.ESRCH) {
			continue // deleted by someone else since the service dump
		}
		if err != nil {
			return nil, vsError("dump real servers of", vs.Key, err)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Service) int { return a.Key.Compare(b.Key) })
	return out, nil
}

// Services lists the kernel's virtual servers in Key.Compare order, without
// their real servers (one service dump); firewall-mark services are left
// out as in Dump.
func (k *Kernel) Services() ([]VirtualServer, error) {
	k.dmu.Lock()
	defer k.dmu.Unlock()
	vss, err := k.servicesLocked()
	if err != nil {
		return nil, err
	}
	slices.SortFunc(vss, func(a, b VirtualServer) int { return a.Key.Compare(b.Key) })
	return vss, nil
}

// AddVirtualServer creates vs (NEW_SERVICE); EEXIST if it exists, ENOENT
// for an unknown scheduler.
func (k *Kernel) AddVirtualServer(vs VirtualServer) error {
	if err := k.doService(vs, (*mobyipvs.Handle).NewService); err != nil {
		return vsError("add", vs.Key, err)
	}
	return nil
}

// UpdateVirtualServer sets scheduler and persistence (SET_SERVICE); ESRCH
// if vs does not exist.
func (k *Kernel) UpdateVirtualServer(vs VirtualServer) error {
	if err := k.doService(vs, (*mobyipvs.Handle).UpdateService); err != nil {
		return vsError("update", vs.Key, err)
	}
	return nil
}

// DeleteVirtualServer deletes key and its real servers (DEL_SERVICE); ESRCH
// if it does not exist.
func (k *Kernel) DeleteVirtualServer(key Key) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.h == nil {
		return vsError("delete", key, errClosed)
	}
	if err := k.h.DelService(k.service(VirtualServer{Key: key})); err != nil {
		return vsError("delete", key, err)
	}
	return nil
}

func (k *Kernel) doService(vs VirtualServer, op func(*mobyipvs.Handle, *mobyipvs.Service) error) error {
	if err := checkVirtualServer(vs); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.h == nil {
		return errClosed
	}
	return op(k.h, k.service(vs))
}

// AddRealServer adds rs to key (NEW_DEST); ESRCH if key does not exist,
// EEXIST if rs does.
func (k *Kernel) AddRealServer(key Key, rs RealServer) error {
	if err := k.doDestination(key, rs, (*mobyipvs.Handle).NewDestination); err != nil {
		return rsError("add", key, rs.RealServerKey, err)
	}
	return nil
}

// UpdateRealServer sets weight and forwarding (SET_DEST); ESRCH if key does
// not exist, ENOENT if rs does not.
func (k *Kernel) UpdateRealServer(key Key, rs RealServer) error {
	if err := k.doDestination(key, rs, (*mobyipvs.Handle).UpdateDestination); err != nil {
		return rsError("update", key, rs.RealServerKey, err)
	}
	return nil
}

// DeleteRealServer removes r from key (DEL_DEST); ESRCH if key does not
// exist, ENOENT if r does not.
func (k *Kernel) DeleteRealServer(key Key, r RealServerKey) error {
	if err := checkRealServerKey(key, r); err != nil {
		return rsError("delete", key, r, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.h == nil {
		return rsError("delete", key, r, errClosed)
	}
	err := k.h.DelDestination(k.service(VirtualServer{Key: key}), k.destination(RealServer{RealServerKey: r}))
	if err != nil {
		return rsError("delete", key, r, err)
	}
	return nil
}

func (k *Kernel) doDestination(key Key, rs RealServer, op func(*mobyipvs.Handle, *mobyipvs.Service, *mobyipvs.Destination) error) error {
	if err := checkRealServer(key, rs); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.h == nil {
		return errClosed
	}
	return op(k.h, k.service(VirtualServer{Key: key}), k.destination(rs))
}

var _ TimeoutConfig = (*Kernel)(nil)

// Timeouts reads IPVS's timeouts (GET_CONFIG).
func (k *Kernel) Timeouts() (Timeouts, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.h == nil {
		return Timeouts{}, fmt.Errorf("ipvs get config: %w", errClosed)
	}
	c, err := k.h.GetConfig()
	if err != nil {
		return Timeouts{}, fmt.Errorf("ipvs get config: %w", err)
	}
	return Timeouts{TCP: c.TimeoutTCP, TCPFin: c.TimeoutTCPFin, UDP: c.TimeoutUDP}, nil
}

// SetTimeouts writes IPVS's timeouts (SET_CONFIG); the kernel leaves a zero
// field as it is. Values are whole seconds; a fraction is refused (EINVAL)
// rather than truncated.
func (k *Kernel) SetTimeouts(t Timeouts) error {
	if err := t.check(); err != nil {
		return fmt.Errorf("ipvs set config: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.h == nil {
		return fmt.Errorf("ipvs set config: %w", errClosed)
	}
	if err := k.h.SetConfig(&mobyipvs.Config{TimeoutTCP: t.TCP, TimeoutTCPFin: t.TCPFin, TimeoutUDP: t.UDP}); err != nil {
		return fmt.Errorf("ipvs set config %+v: %w", t, err)
	}
	return nil
}
