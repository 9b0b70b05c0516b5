package state

import (
	"maps"
	"reflect"
)

// Share makes s's virtual servers whose real servers equal those of the
// same virtual server in o use o's map, read-only (copied before s's first
// change to it): the kernel cache after a sync holds what the desired
// index holds, and sharing keeps one copy of the real servers instead of
// two. o's maps must not change in place afterwards (the desired index's
// fragments never do). It returns how many maps it shared.
func (s State) Share(o State) int {
	n := 0
	for k, svc := range s.Services {
		want, ok := o.Services[k]
		if !ok || len(want.RealServers) != len(svc.RealServers) || len(svc.RealServers) == 0 || sameMap(svc.RealServers, want.RealServers) {
			continue
		}
		if maps.Equal(svc.RealServers, want.RealServers) {
			svc.RealServers, svc.borrowed = want.RealServers, true
			n++
		}
	}
	return n
}

// sameMap tells whether a and b are one map.
func sameMap[M ~map[K]V, K comparable, V any](a, b M) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
