package ipset

import (
	"slices"
	"strconv"
	"strings"
)

// FormatMembers renders entries as the `add NAME MEMBER` lines of `ipset save`,
// one per line with a trailing newline, sorted by Entry.Compare and without
// duplicates. The `plan` command and Fake.Save print members with it.
func FormatMembers(name string, entries []Entry) string {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, Entry.Compare)
	sorted = slices.Compact(sorted)
	var b strings.Builder
	for _, e := range sorted {
		b.WriteString("add ")
		b.WriteString(name)
		b.WriteByte(' ')
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// formatCreate renders the `create` line of `ipset save` for a set with its
// options (the defaults for zero ones), with a trailing newline.
func formatCreate(s Set) string {
	s = s.Sizes()
	return s.String() + " hashsize " + strconv.Itoa(s.HashSize) + " maxelem " + strconv.Itoa(s.MaxElem) + "\n"
}
