package rules

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Fake is an in-memory Interface for tests. It refuses what iptables-restore
// would refuse for our rules (see check) and, with SetExists, a --match-set
// of a set that does not exist; a refused Apply changes nothing, as a failed
// iptables-restore changes nothing.
type Fake struct {
	// SetExists, when set before use, is asked about every --match-set name.
	SetExists func(name string) bool

	mu       sync.Mutex
	rulesets map[Family]Ruleset
	buried   map[Family][]tableChain // where Bury put someone else's rule on top
	calls    []string
	failNext error
}

var _ Interface = (*Fake)(nil)

// NewFake returns an empty Fake.
func NewFake() *Fake { return &Fake{rulesets: map[Family]Ruleset{}} }

// FailNext makes the next Apply or Dump return err without doing anything.
func (f *Fake) FailNext(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = err
}

// Calls returns the calls so far, e.g. "Apply inet", "Dump inet6".
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Applies returns how many Apply calls (failed ones included) were made.
func (f *Fake) Applies() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, "Apply ") {
			n++
		}
	}
	return n
}

// Apply stores rs, canonical, as the family's ruleset.
func (f *Fake) Apply(rs Ruleset) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "Apply "+string(rs.Family))
	if err := f.takeFailure(); err != nil {
		return err
	}
	if err := check(rs, f.SetExists); err != nil {
		return err
	}
	rs = canonical(rs)
	for i := range rs.Tables {
		rs.Tables[i].Buried = nil
	}
	f.rulesets[rs.Family] = rs
	delete(f.buried, rs.Family) // Apply puts every jump first again
	return nil
}

// Bury simulates someone inserting a rule at the top of a built-in chain:
// until the next Apply, Dump reports our jumps in that chain as buried.
func (f *Fake) Bury(fam Family, table, chain string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.buried == nil {
		f.buried = map[Family][]tableChain{}
	}
	f.buried[fam] = append(f.buried[fam], tableChain{table, chain})
}

type tableChain struct{ table, chain string }

// Dump returns the family's ruleset (empty before any Apply).
func (f *Fake) Dump(fam Family) (Ruleset, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "Dump "+string(fam))
	if err := f.takeFailure(); err != nil {
		return Ruleset{}, err
	}
	if fam != IPv4 && fam != IPv6 {
		return Ruleset{}, fmt.Errorf("rules: family %q is neither %q nor %q", fam, IPv4, IPv6)
	}
	rs, ok := f.rulesets[fam]
	if !ok {
		return Ruleset{Family: fam}, nil
	}
	rs = canonical(rs) // a copy: callers cannot reach the stored slices
	for _, b := range f.buried[fam] {
		for i, t := range rs.Tables {
			if t.Name != b.table {
				continue
			}
			for _, j := range t.Jumps {
				if j.Chain == b.chain && !slices.Contains(t.Buried, j) {
					rs.Tables[i].Buried = append(rs.Tables[i].Buried, j)
				}
			}
		}
	}
	return canonical(rs), nil
}

func (f *Fake) takeFailure() error {
	err := f.failNext
	f.failNext = nil
	return err
}
