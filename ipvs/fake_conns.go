package ipvs

import (
	"fmt"
	"syscall"
)

var _ TimeoutConfig = (*Fake)(nil)

// realServers returns the real servers in RealServerKey.Compare order (nil
// when none) and the counts of those with connections (nil when none has).
func (s *fakeService) realServers() ([]RealServer, map[RealServerKey]Conns) {
	var rss []RealServer
	if len(s.rss) > 0 {
		rss = make([]RealServer, len(s.rss))
		for i, p := range s.rss {
			rss[i] = p.realServer()
		}
	}
	var conns map[RealServerKey]Conns
	for r, c := range s.conns {
		if c.Zero() {
			continue
		}
		if conns == nil {
			conns = map[RealServerKey]Conns{}
		}
		conns[r] = c
	}
	return rss, conns
}

// RealServers lists the real servers of k with their counts; like the
// kernel's destination dump, a missing virtual server has none.
func (f *Fake) RealServers(k Key) ([]RealServer, map[RealServerKey]Conns, error) {
	if err := f.begin(OpRealServers, k); err != nil {
		return nil, nil, vsError("dump real servers of", k, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[k]
	if !ok {
		return nil, nil, nil
	}
	rss, conns := s.realServers()
	return rss, conns, nil
}

// SetConns stands in for traffic: it sets the connection counts IPVS
// reports for real server r of k. Not a kernel request, so not counted; it
// fails (ESRCH, ENOENT) when the real server does not exist. Deleting the
// real server forgets its counts.
func (f *Fake) SetConns(k Key, r RealServerKey, c Conns) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[k]
	if !ok {
		return vsError("set connections of", k, syscall.ESRCH)
	}
	if _, ok := s.find(r); !ok || checkAddr(r.Address) != nil { // a key the kernel refuses is in no list
		return rsError("set connections of", k, r, syscall.ENOENT)
	}
	if s.conns == nil {
		s.conns = map[RealServerKey]Conns{}
	}
	s.conns[r] = c
	return nil
}

// Timeouts returns the timeouts; a new Fake has the kernel's defaults
// (900 s, 120 s, 300 s).
func (f *Fake) Timeouts() (Timeouts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timeouts == (Timeouts{}) {
		f.timeouts = defaultTimeouts
	}
	return f.timeouts, nil
}

// SetTimeouts sets the non-zero fields, refusing what Kernel refuses.
func (f *Fake) SetTimeouts(t Timeouts) error {
	if err := t.check(); err != nil {
		return fmt.Errorf("ipvs set config: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timeouts == (Timeouts{}) {
		f.timeouts = defaultTimeouts
	}
	if t.TCP > 0 {
		f.timeouts.TCP = t.TCP
	}
	if t.TCPFin > 0 {
		f.timeouts.TCPFin = t.TCPFin
	}
	if t.UDP > 0 {
		f.timeouts.UDP = t.UDP
	}
	return nil
}
