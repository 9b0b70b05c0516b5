package controllers

import (
	"errors"
	"fmt"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// fitSets makes each of our sets big enough for this full sync before apply
// adds to it. apply adds members before it deletes any, so for a moment a set
// holds both what it holds now (the observed cache) and what want adds; a set
// whose maxelem is below that grows to ipset.Sized of it (twice the members,
// rounded up to a power of two) through ipset.Grow, which never leaves a
// member out: the rules that match the set by name keep matching throughout.
// Sets never shrink. One header request per set (Info); a set that need not
// grow costs nothing more. Errors are returned joined, after every set was
// tried: apply still runs, and an add to a set that could not grow fails
// with ipset.ErrFull and is retried by the next full sync. Until a full
// sync has succeeded it also removes temporary sets a crash mid-Grow left.
func (r *Reconciler) fitSets(want state.State) error {
	need := map[string]int{}
	for m := range r.cache.Members {
		need[m.Set]++
	}
	for m := range want.Members {
		if _, ok := r.cache.Members[m]; !ok {
			need[m.Set]++
		}
	}
	var errs []error
	if !r.synced {
		errs = append(errs, r.dropTempSets())
	}
	for _, s := range desired.AllSets() {
		info, err := r.k.Sets.Info(s.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("size ipset %s: %w", s.Name, err))
			continue
		}
		if ipset.Fits(info.Set, need[s.Name]) {
			continue
		}
		var members []ipset.Entry
		for m := range r.cache.Members {
			if m.Set == s.Name {
				members = append(members, m.Entry)
			}
		}
		if err := ipset.Grow(r.k.Sets, ipset.Sized(s, need[s.Name]), members); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dropTempSets destroys the NAME-tmp sets a process that died in ipset.Grow
// left behind (one Info per set; a Destroy only for one that exists).
func (r *Reconciler) dropTempSets() error {
	var errs []error
	for _, s := range desired.AllSets() {
		tmp, err := ipset.TempName(s.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := r.k.Sets.Info(tmp); errors.Is(err, ipset.ErrNotFound) {
			continue
		} else if err != nil {
			errs = append(errs, fmt.Errorf("look for left-over ipset %s: %w", tmp, err))
			continue
		}
		if err := r.k.Sets.Destroy(tmp); err != nil {
			errs = append(errs, fmt.Errorf("destroy left-over ipset %s: %w", tmp, err))
		}
	}
	return errors.Join(errs...)
}
