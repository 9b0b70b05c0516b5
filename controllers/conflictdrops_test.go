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
	fk := newFakeKernel()
	addForeign(t, fk) // tcp 10.0.0.99:80
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	src.put(service("default/clash", "10.0.0.99", tcp("http", 80)),
		epSlice("default/clash-1", "clash", "http", "", 8080, "10.244.5.5"))
	src.put(service("default/clash2", "10.0.0.99", tcp("http", 81)),
		epSlice("default/clash2-1", "clash2", "http", "", 8080, "10.244.5.6"))
	mustFull(t, r, src)
	if len(r.foreign) == 0 {
		t.Fatal("no foreign virtual server seen")
	}

	viewProblems, copyProblems := map[types.NamespacedName][]string{}, map[types.NamespacedName][]string{}
	d := r.conflictDrops(r.index, viewProblems)
	if d.empty() {
		t.Fatal("nothing dropped")
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
	for k := range d.services {
		if view.WantService(k) != nil {
			t.Errorf("view still wants %s", k)
		}
	}
}
