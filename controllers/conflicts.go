package controllers

import (
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
)

// recordConflicts adds each conflict (two Services wanting one virtual
// server; the Index gave it to the winner) to the problems of both Services,
// among those this sync looked at (present in problems): a Service not
// synced now keeps what was reported for it, and the next full sync reports
// the conflict on both.
func recordConflicts(cs []*desired.Conflict, problems map[types.NamespacedName][]string) {
	for _, c := range cs {
		for _, n := range []types.NamespacedName{c.Winner, c.Loser} {
			if _, ok := problems[n]; ok {
				problems[n] = append(problems[n], c.Error())
			}
		}
	}
}
