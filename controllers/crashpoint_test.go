package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestCrashPointFrom(t *testing.T) {
	for _, tc := range []struct {
		v       string
		want    float64 // 0: unset
		wantErr bool
	}{
		{v: ""},
		{v: "0.25", want: 0.25},
		{v: "0", wantErr: true},
		{v: "1", wantErr: true},
		{v: "-0.5", wantErr: true},
		{v: "NaN", wantErr: true},
		{v: "half", wantErr: true},
	} {
		c, err := crashPointFrom(func(k string) string {
			if k == CrashPointEnv {
				return tc.v
			}
			return ""
		})
		switch {
		case tc.wantErr:
			if err == nil || !strings.Contains(err.Error(), CrashPointEnv) {
				t.Errorf("%q: err %v, want one naming %s", tc.v, err, CrashPointEnv)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.v, err)
		case tc.want == 0 && c != nil, tc.want != 0 && (c == nil || c.at != tc.want):
			t.Errorf("%q: %+v, want at %v", tc.v, c, tc.want)
		}
	}
}

// crashed is what the test hook's kill panics with: the apply stops there,
// with what it handed to the kernel so far, as SIGKILL would leave it.
type crashed struct{}

// The hook fires inside a cold sync at the fraction asked for, never on a
// small sync; and whatever point it stops a cold sync at, a restarted
// reconciler (new cache, same kernel) converges to what a clean sync makes.
func TestCrashPointInsideColdSync(t *testing.T) {
	src := manyServices(60) // ~60 × (address, member, VS, 3 RS) operations
	want := oracle(t, src)
	for _, at := range []float64{0.01, 0.3, 0.5, 0.77, 0.99} {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			fk := newFakeKernel()
			r := newTestReconciler(t, fk)
			var got *crashed
			r.crash = &crashPoint{at: at, kill: func() { panic(crashed{}) }}
			func() {
				defer func() {
					if p := recover(); p != nil {
						if _, ok := p.(crashed); !ok {
							panic(p)
						}
						got = &crashed{}
					}
				}()
				_, _ = r.Full(context.Background(), src)
			}()
			if got == nil {
				t.Fatal("the hook did not fire during the cold sync")
			}
			// What the kernel holds is a strict part of the goal.
			if d := fk.dump(); d == want {
				t.Fatalf("killed at %v but the kernel is complete", at)
			}
			// The restart: a new reconciler on the same kernel, no hook.
			r2 := newTestReconciler(t, fk)
			mustFull(t, r2, src)
			assertText(t, "kernel after the restart", want, fk.dump())
			assertCacheTruthful(t, r2)
		})
	}
}

// A small apply (an incremental sync, the set-up of a test) never fires it.
func TestCrashPointNotOnSmallSyncs(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	fired := 0
	r.crash = &crashPoint{at: 0.01, kill: func() { fired++ }}
	mustFull(t, r, manyServices(5))
	if fired != 0 {
		t.Errorf("fired %d times on a sync of 5 Services", fired)
	}
}
