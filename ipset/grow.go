package ipset

import (
	"errors"
	"fmt"
)

// Grow gives the existing set s.Name the size in s without a moment in which
// one of its members is missing: it creates NAME-tmp with s's type, family and
// size, adds members (what the set holds now) to it, swaps the two (a swap
// exchanges the contents under the names in one step, so rules matching
// s.Name by name keep matching throughout), and destroys NAME-tmp, which then
// holds the old, smaller contents. A NAME-tmp left over by a crash is
// destroyed first. Members the set gained since the caller listed them would
// be lost: the caller must be the set's only writer.
func Grow(ifc Interface, s Set, members []Entry) error {
	tmp, err := TempName(s.Name)
	if err != nil {
		return fmt.Errorf("grow ipset: %w", err)
	}
	if err := ifc.Destroy(tmp); err != nil {
		return fmt.Errorf("grow ipset %s: remove left-over temporary: %w", s.Name, err)
	}
	t := s
	t.Name = tmp
	if err := ifc.Ensure(t); err != nil {
		return fmt.Errorf("grow ipset %s: %w", s.Name, err)
	}
	if err := ifc.AddAll(tmp, members); err != nil {
		return errors.Join(fmt.Errorf("grow ipset %s: fill temporary: %w", s.Name, err), ifc.Destroy(tmp))
	}
	if err := ifc.Swap(s.Name, tmp); err != nil {
		return errors.Join(fmt.Errorf("grow ipset %s: %w", s.Name, err), ifc.Destroy(tmp))
	}
	if err := ifc.Destroy(tmp); err != nil {
		return fmt.Errorf("grow ipset %s: destroy the old contents: %w", s.Name, err)
	}
	return nil
}
