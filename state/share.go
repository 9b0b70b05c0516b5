package state

import "github.com/ipvs-proxy/ipvs-proxy/ipvs"

// Share makes s's virtual servers whose real servers equal those of the
// same virtual server in o use o's list, read-only (copied before s's first
// change to it): the kernel cache after a sync holds what the desired
// index holds, and sharing keeps one copy of the real servers instead of
// two. o's lists must not change in place afterwards (the desired index's
// fragments never do). It returns how many lists it shared.
func (s State) Share(o State) int {
	n := 0
	for k := range s.Services {
		if want, ok := o.Services[k]; ok && s.ShareOne(k, want) {
			n++
		}
	}
	return n
}

// ShareOne is Share for the one virtual server k, whose desired state is
// want (nil: none); it reports whether it shared.
func (s State) ShareOne(k ipvs.Key, want *Service) bool {
	svc, ok := s.Services[k]
	if !ok || want == nil || want.RealServers.Len() != svc.RealServers.Len() || svc.RealServers.Len() == 0 ||
		svc.RealServers.Shares(want.RealServers) || !svc.RealServers.Equal(want.RealServers) {
		return false
	}
	svc.RealServers, svc.borrowed = want.RealServers, true
	return true
}

// AddShared adds (or replaces) virtual server vs with real servers rss,
// borrowed read-only like Share's (copied before s's first change).
func (s *State) AddShared(vs ipvs.VirtualServer, rss RealServers) *Service {
	s.init()
	svc := &Service{VirtualServer: vs, RealServers: rss, borrowed: true}
	s.Services[vs.Key] = svc
	return svc
}

// ShareFirst makes virtual server k's real servers, when they are exactly
// the first of want's (a cold apply adds them in want's order), a read-only
// view of want's list: AddRealServer then lengthens the view while each
// add is want's next real server, so the cache never copies the list it
// ends up sharing. It reports whether it shared.
func (s State) ShareFirst(k ipvs.Key, want *Service) bool {
	svc, ok := s.Services[k]
	if !ok || want == nil || svc.RealServers.Len() != 1 || want.RealServers.Len() < 2 ||
		svc.RealServers.s[0] != want.RealServers.s[0] {
		return false
	}
	svc.RealServers, svc.borrowed = RealServers{s: want.RealServers.s[:1]}, true
	return true
}
