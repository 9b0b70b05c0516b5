package desired

import (
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

func TestSetNames(t *testing.T) {
	if got := Sets(addr("10.0.0.1")); got != (SetNames{C4, N4, H4}) {
		t.Errorf("Sets(v4) = %v", got)
	}
	if got := Sets(addr("fd00::1")); got != (SetNames{C6, N6, H6}) {
		t.Errorf("Sets(v6) = %v", got)
	}
	if SetsOf(rules.IPv4) != Sets(addr("10.0.0.1")) || SetsOf(rules.IPv6) != Sets(addr("fd00::1")) {
		t.Errorf("SetsOf disagrees with Sets")
	}
	all := AllSets()
	if len(all) != 6 {
		t.Fatalf("AllSets() = %v", all)
	}
	for _, s := range all {
		if len(s.Name) > 31 {
			t.Errorf("set name %q longer than 31 bytes", s.Name)
		}
	}
	if all[0].Name != C4 || all[2].Name != H4 || all[3].Name != C6 {
		t.Errorf("AllSets order: %v", all)
	}
}
