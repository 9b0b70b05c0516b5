package healthcheck

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Service is what the health check of one Service needs.
type Service struct {
	// Port is the Service's healthCheckNodePort.
	Port uint16
	// LocalEndpoints counts this node's ready endpoints (distinct
	// addresses) per family: [0] IPv4, [1] IPv6. A listener answers with
	// the count of its own address's family, as kube-proxy's per-family
	// servers do.
	LocalEndpoints [2]int
}

// ListenFunc opens a TCP listener on addr. Production passes Listen; tests
// inject one that listens elsewhere (e.g. loopback, port 0).
type ListenFunc func(addr netip.AddrPort) (net.Listener, error)

// Listen listens on addr over TCP.
func Listen(addr netip.AddrPort) (net.Listener, error) { return net.Listen("tcp", addr.String()) }

// Manager runs one HTTP server per health-checked Service and node address.
// Sync and Update are safe for concurrent use with the servers' requests.
type Manager struct {
	listen  ListenFunc
	healthy func() bool

	mu       sync.Mutex
	addrs    []netip.Addr
	services map[types.NamespacedName]*instance
}

type instance struct {
	svc     Service
	servers []*http.Server
	bound   []net.Addr
}

// NewManager returns a Manager; healthy reports whether the proxy itself is
// healthy (kube-proxy's serviceProxyHealthy), nil meaning always.
func NewManager(listen ListenFunc, healthy func() bool) *Manager {
	if healthy == nil {
		healthy = func() bool { return true }
	}
	return &Manager{listen: listen, healthy: healthy, services: map[types.NamespacedName]*instance{}}
}

// Sync makes the running servers exactly want, listening on addrs: it closes
// the servers of Services no longer in want (or whose port changed, or all
// of them when addrs changed), opens the missing ones, and updates endpoint
// counts in place. A Service whose port cannot be opened (on some address)
// is left without any server and named in the returned error; the next Sync
// tries again.
func (m *Manager) Sync(want map[types.NamespacedName]Service, addrs []netip.Addr) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	addrs = slices.Clone(addrs)
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	if !slices.Equal(addrs, m.addrs) {
		for n := range m.services {
			m.closeLocked(n)
		}
		m.addrs = addrs
	}
	for n := range m.services {
		if _, ok := want[n]; !ok {
			m.closeLocked(n)
		}
	}
	var errs []error
	for n, s := range want {
		if err := m.setLocked(n, s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Update changes only the named Services: a nil value removes the Service's
// servers, another value opens or updates them (on the addresses of the last
// Sync). For incremental syncs, which touch few Services.
func (m *Manager) Update(changes map[types.NamespacedName]*Service) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for n, s := range changes {
		if s == nil {
			m.closeLocked(n)
			continue
		}
		if err := m.setLocked(n, *s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close stops every server.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for n := range m.services {
		m.closeLocked(n)
	}
}

// Bound returns the addresses the servers of Service n listen on (what the
// listeners report), for tests and logs.
func (m *Manager) Bound(n types.NamespacedName) []net.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	if inst := m.services[n]; inst != nil {
		return slices.Clone(inst.bound)
	}
	return nil
}

func (m *Manager) setLocked(n types.NamespacedName, s Service) error {
	if inst := m.services[n]; inst != nil {
		if inst.svc.Port == s.Port {
			inst.svc = s
			return nil
		}
		m.closeLocked(n)
	}
	inst := &instance{svc: s}
	for _, a := range m.addrs {
		l, err := m.listen(netip.AddrPortFrom(a, s.Port))
		if err != nil {
			for _, srv := range inst.servers {
				srv.Close()
			}
			return fmt.Errorf("health check of Service %s on %s: %w", n, netip.AddrPortFrom(a, s.Port), err)
		}
		family := 0
		if a.Is6() && !a.Is4In6() {
			family = 1
		}
		srv := &http.Server{Handler: m.handler(n, family), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(l) //nolint:errcheck // returns ErrServerClosed on Close
		inst.servers = append(inst.servers, srv)
		inst.bound = append(inst.bound, l.Addr())
	}
	m.services[n] = inst
	return nil
}

func (m *Manager) closeLocked(n types.NamespacedName) {
	if inst := m.services[n]; inst != nil {
		for _, srv := range inst.servers {
			srv.Close()
		}
	}
	delete(m.services, n)
}

// handler answers for Service n from the current count of family's endpoints.
func (m *Manager) handler(n types.NamespacedName, family int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		m.mu.Lock()
		inst := m.services[n]
		count := 0
		if inst != nil {
			count = inst.svc.LocalEndpoints[family]
		}
		m.mu.Unlock()
		Response(n, count, m.healthy()).write(w)
	})
}
