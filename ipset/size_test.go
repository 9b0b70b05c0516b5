package ipset

import (
	"strings"
	"testing"
)

func TestSized(t *testing.T) {
	tests := []struct {
		members, maxElem, hashSize int
	}{
		{0, 65536, 16384},
		{1, 65536, 16384},
		{32768, 65536, 16384},
		{32769, 131072, 32768},
		{65536, 131072, 32768},
		{65537, 262144, 65536},
		{200000, 524288, 131072},
		{1500000, 4194304, 1048576},
	}
	for _, tt := range tests {
		got := Sized(v4Port, tt.members)
		if got.MaxElem != tt.maxElem || got.HashSize != tt.hashSize || !got.Same(v4Port) {
			t.Errorf("Sized(%d) = %+v, want maxelem %d hashsize %d", tt.members, got, tt.maxElem, tt.hashSize)
		}
		if !Fits(got, tt.members) || !Fits(got, 2*tt.members) {
			t.Errorf("Sized(%d) = maxelem %d does not fit twice the members", tt.members, got.MaxElem)
		}
	}
}

func TestFits(t *testing.T) {
	if !Fits(v4Port, MaxElem) || Fits(v4Port, MaxElem+1) {
		t.Error("a set of the default size must fit exactly MaxElem members")
	}
	if s := sized(v4Port, 10, 0); !Fits(s, 10) || Fits(s, 11) {
		t.Error("a set of maxelem 10 must fit exactly 10 members")
	}
}

func TestTempName(t *testing.T) {
	if got, err := TempName("IPVS-PROXY6-CLUSTER-IP"); err != nil || got != "IPVS-PROXY6-CLUSTER-IP-tmp" {
		t.Errorf("TempName = %q, %v", got, err)
	}
	if got, err := TempName(strings.Repeat("N", 27)); err != nil || len(got) != MaxNameLen {
		t.Errorf("TempName of 27 bytes = %q, %v", got, err)
	}
	a, errA := TempName("IPVS-PROXY6-LOAD-BALANCER-LOCAL")
	b, errB := TempName("IPVS-PROXY6-LOAD-BALANCER-LOCAX")
	if errA != nil || errB != nil || len(a) != MaxNameLen || len(b) != MaxNameLen || a == b || !strings.HasPrefix(a, "IPVS-PROXY6-LOAD-BA-tmp") {
		t.Errorf("TempName of 31-byte names = %q, %q (%v, %v): want two distinct 31-byte names", a, b, errA, errB)
	}
	if _, err := TempName(strings.Repeat("N", 32)); err == nil {
		t.Error("TempName of a 32-byte name: no error")
	}
}
