package controllers

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Two Services wanting one virtual server: the older has it (whatever the
// names or the order of events), both are told, naming each other, in full
// and incremental syncs alike, in the words `plan` prints.
func TestServicesWantingOneVirtualServer(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	web := nsn("default/web")
	newer := src.svcs[web].expand()
	newer.CreationTimestamp = metav1.NewTime(t0.Add(time.Hour))
	src.put(newer)
	old := service("default/zz-old", "10.96.0.10", tcp("http", 80))
	old.CreationTimestamp = metav1.NewTime(t0)
	zz := src.put(old, epSlice("default/zz-old-1", "zz-old", "http", "", 9090, "10.244.9.9"))

	want := "Service default/zz-old and Service default/web both want virtual server TCP 10.96.0.10:80; Service default/zz-old has them (created first, or at the same time and first by namespace/name), Service default/web gets none of them"
	res := mustFull(t, r, src)
	for _, n := range []string{"default/web", "default/zz-old"} {
		if got := problemsOf(res, n); got != want {
			t.Errorf("full sync: problems of %s = %q, want %q", n, got, want)
		}
	}
	got := fk.ipvs.String()
	if !strings.Contains(got, "-a -t 10.96.0.10:80 -r 10.244.9.9:9090") || strings.Contains(got, "-a -t 10.96.0.10:80 -r 10.244.1.1:8080") {
		t.Errorf("10.96.0.10:80 is not the older Service's alone:\n%s", got)
	}
	// web's NodePort is not contested: web still has it.
	if !strings.Contains(got, ":30080 -r 10.244.1.1:8080") {
		t.Errorf("the loser's uncontested virtual servers are missing:\n%s", got)
	}

	// An incremental sync of the loser says the same, and changes nothing.
	m := fk.resetCalls()
	res = mustIncremental(t, r, src, web)
	if got := problemsOf(res, "default/web"); got != want {
		t.Errorf("incremental: problems of web = %q", got)
	}
	if _, ok := res.Problems[zz]; ok {
		t.Errorf("incremental sync of web reported on zz-old, which it did not sync: %v", res.Problems[zz])
	}
	assertNoMutations(t, fk, m)

	// The winner goes: the loser gets the virtual server, and no problem.
	src.del(zz)
	res = mustIncremental(t, r, src, zz)
	if got := fk.ipvs.String(); !strings.Contains(got, "-a -t 10.96.0.10:80 -r 10.244.1.1:8080") || strings.Contains(got, "10.244.9.9") {
		t.Errorf("after the winner's deletion:\n%s", got)
	}
	res = mustFull(t, r, src)
	if p := res.Problems[web]; p != nil {
		t.Errorf("problems of web after the winner's deletion: %v", p)
	}
}
