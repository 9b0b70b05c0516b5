package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
)

// The loop's share of the rolling audit's fixed steps at 10,000 Services,
// with the large reads off the loop as in the daemon (asyncAudit): each
// AuditStep call is timed, the wait for a read under way is not (the next
// step comes a second later). host-loop-ms and services-loop-ms are what
// the host and virtual-server-list steps cost the loop per round (both
// calls: the one that starts the read and the one that handles it);
// sets-loop-ms is all the set steps together, set-step-max-ms the
// longest one. A change that arrives during
// a step waits that long.
//
//	go test -run '^$' -bench AuditLoopSteps -benchtime 5x ./controllers/
func BenchmarkAuditLoopSteps(b *testing.B) {
	src := listerSource{benchSource(benchServices)}
	fk := newFakeKernel()
	r := newTestReconciler(b, fk)
	r.asyncAudit = true
	ctx := context.Background()
	if _, err := r.Full(ctx, src); err != nil {
		b.Fatal(err)
	}
	sets := len(desired.AllSets())
	var setsT, hostT, svcT, setMax time.Duration
	rounds := 0
	for b.Loop() {
		r.audit = auditState{}
		for r.audit.phase <= sets+1 {
			if p := r.audit.read; p != nil {
				<-p.done
			}
			phase := r.audit.phase
			start := time.Now()
			res, _, err := r.AuditStep(ctx, 1)
			d := time.Since(start)
			if err != nil || res.Drift != 0 {
				b.Fatalf("phase %d: %v, drift %d", phase, err, res.Drift)
			}
			switch {
			case phase < sets:
				setsT += d
				setMax = max(setMax, d)
			case phase == sets:
				hostT += d
			default:
				svcT += d
			}
		}
		rounds++
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(rounds) }
	b.ReportMetric(ms(setsT), "sets-loop-ms")
	b.ReportMetric(ms(hostT), "host-loop-ms")
	b.ReportMetric(ms(svcT), "services-loop-ms")
	b.ReportMetric(float64(setMax)/float64(time.Millisecond), "set-step-max-ms")
}
