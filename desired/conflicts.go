package desired

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// Claim is a Service as a claimant of virtual servers. Two Services can want
// one virtual server (hand-written files the API server never checked, two
// Services given one node port while the allocator was repaired, or a
// clusterIP reused before the old Service's deletion was seen); the Index
// then gives it whole to one of them, the winner by Compare, the same in
// `run` and `plan`.
type Claim struct {
	Name types.NamespacedName
	// Created is metadata.creationTimestamp (zero in files that leave it out).
	Created time.Time
}

// ClaimOf returns svc's Claim.
func ClaimOf(svc *corev1.Service) Claim {
	return Claim{Name: types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}, Created: svc.CreationTimestamp.Time}
}

// Compare orders claims by precedence, the winner first: the older Service
// (it had the virtual server first: the newer one is the mistake), then, at
// equal creation times (the API's are in whole seconds), namespace and name.
func (c Claim) Compare(d Claim) int {
	return cmp.Or(c.Created.Compare(d.Created), cmp.Compare(c.Name.Namespace, d.Name.Namespace), cmp.Compare(c.Name.Name, d.Name.Name))
}

// Conflict is one Service losing virtual servers to another: Winner's
// fragment programs Keys, Loser gets none of them.
type Conflict struct {
	Winner, Loser types.NamespacedName
	Keys          []ipvs.Key // sorted
}

// Error names both Services and the virtual servers, the same words for
// plan's warning and for the Events of both Services.
func (c *Conflict) Error() string {
	const most = 3
	vs := make([]string, 0, most)
	for _, k := range c.Keys[:min(len(c.Keys), most)] {
		vs = append(vs, keyString(k))
	}
	what := "virtual server " + vs[0]
	if len(c.Keys) > 1 {
		what = "virtual servers " + strings.Join(vs, ", ")
		if len(c.Keys) > most {
			what += fmt.Sprintf(" and %d more", len(c.Keys)-most)
		}
	}
	return fmt.Sprintf("Service %s and Service %s both want %s; Service %s has them (created first, or at the same time and first by namespace/name), Service %s gets none of them",
		c.Winner, c.Loser, what, c.Winner, c.Loser)
}

// keyString is "TCP 10.96.0.10:80".
func keyString(k ipvs.Key) string {
	return strings.ToUpper(k.Protocol.String()) + " " + netip.AddrPortFrom(k.Address, k.Port).String()
}

// conflicts groups the contested keys by (winner, loser) pair, sorted by
// loser, then winner.
func (ix *Index) conflicts(keys func(yield func(ipvs.Key) bool)) []*Conflict {
	type pair struct{ winner, loser types.NamespacedName }
	byPair := map[pair]*Conflict{}
	for k := range keys {
		owners := ix.owners[k]
		for _, l := range owners[min(1, len(owners)):] {
			p := pair{owners[0], l}
			c := byPair[p]
			if c == nil {
				c = &Conflict{Winner: p.winner, Loser: p.loser}
				byPair[p] = c
			}
			c.Keys = append(c.Keys, k)
		}
	}
	out := make([]*Conflict, 0, len(byPair))
	for _, c := range byPair {
		slices.SortFunc(c.Keys, compareKeys)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *Conflict) int {
		return cmp.Or(compareNames(a.Loser, b.Loser), compareNames(a.Winner, b.Winner))
	})
	return out
}

func compareNames(a, b types.NamespacedName) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

func compareKeys(a, b ipvs.Key) int {
	return cmp.Or(a.Address.Compare(b.Address), cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
}
