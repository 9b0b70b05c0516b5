package controllers

import (
	"errors"
	"fmt"
	"maps"
	"slices"

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
// with ipset.ErrFull, where growForAdds tries once more. Until a full
// sync has succeeded it also removes temporary sets a crash mid-Grow left.
func (r *Reconciler) fitSets(want state.Wanted) error {
	need := r.cache.Members.CountBySet()
	for m := range want.EachMember() {
		if !r.cache.Members.Has(m) {
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
		for m := range r.cache.Members.InSet(s.Name) {
			members = append(members, m.Entry)
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

// growForAdds handles an add (op, one of the plan's adds) that an incremental
// sync's apply saw refused with ipset.ErrFull: it grows op's set (growSet)
// for every member of adds, then tries op again. So one grow covers the
// whole apply and the Service does not wait for the next full sync. It
// returns op's error: full, joined with why the grow failed, when the set
// could not grow.
func (r *Reconciler) growForAdds(op *state.Op, adds state.MemberList, full error) error {
	ours, err := r.growSet(op.Member.Set, nil, adds)
	if !ours {
		return full // not one of ours: nothing we may grow
	}
	if err != nil {
		return errors.Join(full, err)
	}
	return r.do(op)
}

// growSet grows our set name, the same way fitSets does, to ipset.Sized
// of what the set holds plus every member of adds not in it yet. What it
// holds is the cache (apply keeps it equal to the kernel for our sets)
// changed by done: member adds and deletes of a batched run (batch.go)
// that the kernel made and apply has not recorded yet. ours is false, and
// nothing is done, for a set that is not one of ours.
func (r *Reconciler) growSet(name string, done []state.Op, adds state.MemberList) (ours bool, err error) {
	i := slices.IndexFunc(desired.AllSets(), func(s ipset.Set) bool { return s.Name == name })
	if i < 0 {
		return false, nil
	}
	holds := map[ipset.Entry]struct{}{}
	for m := range r.cache.Members.InSet(name) {
		holds[m.Entry] = struct{}{}
	}
	for _, op := range done {
		switch {
		case op.Member.Set != name:
		case op.Kind == state.AddMember:
			holds[op.Member.Entry] = struct{}{}
		case op.Kind == state.DeleteMember:
			delete(holds, op.Member.Entry)
		}
	}
	members := slices.Collect(maps.Keys(holds))
	need := len(members)
	for m := range adds.All() {
		if m.Set != name {
			continue
		}
		if _, ok := holds[m.Entry]; !ok {
			need++
		}
	}
	return true, ipset.Grow(r.k.Sets, ipset.Sized(desired.AllSets()[i], need), members)
}
