package controllers

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// A full sync reads the desired state in place, less what foreign virtual
// servers take (conflictDrops(...).without); an incremental one copies it
// and deletes (dropConflicts). The two must agree: same diff against an
// empty and a synced kernel, same sizes, same problems.
func TestConflictDropsViewMatchesCopy(t *testing.T) {
	for _, tc := range []struct {
		name      string
		shareAddr bool // a second Service keeps the foreign virtual server's address
	}{{"address dropped", false}, {"address kept", true}} {
		t.Run(tc.name, func(t *testing.T) {
			fk := newFakeKernel()
			addForeign(t, fk) // tcp 10.0.0.99:80
			r := newTestReconciler(t, fk)
			src := webAndDNS()
			src.put(service("default/clash", "10.0.0.99", tcp("http", 80)),
				epSlice("default/clash-1", "clash", "http", "", 8080, "10.244.5.5"))
			if tc.shareAddr {
				src.put(service("default/clash2", "10.0.0.99", tcp("http", 81)),
					epSlice("default/clash2-1", "clash2", "http", "", 8080, "10.244.5.6"))
			}
			mustFull(t, r, src)
			if len(r.foreign) == 0 {
				t.Fatal("no foreign virtual server seen")
			}

			viewProblems, copyProblems := map[types.NamespacedName][]string{}, map[types.NamespacedName][]string{}
			d := r.conflictDrops(r.index, viewProblems)
			if len(d.services) != 1 || len(d.members) == 0 {
				t.Fatalf("dropped %d virtual servers, %d members", len(d.services), len(d.members))
			}
			if got := len(d.addresses); got != map[bool]int{false: 1, true: 0}[tc.shareAddr] {
				t.Fatalf("dropped %d addresses", got)
			}
			view := d.without(r.index)
			cp := r.index.All()
			r.dropConflicts(&cp, copyProblems)

			if got, want := fmt.Sprint(view.Sizes()), fmt.Sprint(cp.Sizes()); got != want {
				t.Errorf("sizes: view %s, copy %s", got, want)
			}
			if got, want := fmt.Sprint(viewProblems), fmt.Sprint(copyProblems); got != want {
				t.Errorf("problems: view %s, copy %s", got, want)
			}
			for name, observed := range map[string]state.State{"empty": state.New(), "synced": r.cache} {
				if got, want := state.DiffWanted(view, observed).String(), state.Diff(cp, observed).String(); got != want {
					t.Errorf("%s kernel: view diff\n%s\ncopy diff\n%s", name, got, want)
				}
			}
			// Lookups too, over everything the Index wants (the diffs
			// above ask only about what the kernel holds).
			all := r.index.All()
			for k := range all.Services {
				if got, want := view.WantService(k) != nil, cp.WantService(k) != nil; got != want {
					t.Errorf("WantService(%s) = %v, copy %v", k, got, want)
				}
			}
			for a := range all.Addresses {
				if got, want := view.WantsAddress(a), cp.WantsAddress(a); got != want {
					t.Errorf("WantsAddress(%s) = %v, copy %v", a, got, want)
				}
			}
			for m := range all.Members.All() {
				if got, want := view.WantsMember(m), cp.WantsMember(m); got != want {
					t.Errorf("WantsMember(%v) = %v, copy %v", m, got, want)
				}
			}
		})
	}
}
