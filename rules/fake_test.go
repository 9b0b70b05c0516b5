package rules

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestFakeRoundTrip(t *testing.T) {
	f := NewFake()
	rs4, rs6 := For(spec(IPv4, "10.244.0.0/16")), For(spec(IPv6, "fd00::/64"))
	if got, _ := f.Dump(IPv4); !reflect.DeepEqual(got, Ruleset{Family: IPv4}) {
		t.Errorf("Dump before Apply = %+v", got)
	}
	for _, rs := range []Ruleset{rs4, rs6} {
		if err := f.Apply(rs); err != nil {
			t.Fatal(err)
		}
	}
	for _, rs := range []Ruleset{rs4, rs6} {
		got, err := f.Dump(rs.Family)
		if err != nil || !reflect.DeepEqual(got, rs) {
			t.Errorf("Dump(%s) = %v, %v; want\n%s", rs.Family, got, err, rs)
		}
	}
	// Dump returns a copy.
	got, _ := f.Dump(IPv4)
	got.Tables[0].Chains[0].Rules[0] = "-j DROP"
	if again, _ := f.Dump(IPv4); !reflect.DeepEqual(again, rs4) {
		t.Error("changing a Dump result changed the Fake")
	}
	if n := f.Applies(); n != 2 {
		t.Errorf("Applies = %d, want 2", n)
	}
	want := []string{"Dump inet", "Apply inet", "Apply inet6", "Dump inet", "Dump inet6", "Dump inet", "Dump inet"}
	if got := f.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("Calls = %q, want %q", got, want)
	}
}

func TestFakeCanonicalises(t *testing.T) {
	f := NewFake()
	rs := For(spec(IPv4))
	shuffled := Ruleset{Family: IPv4, Tables: []Table{rs.Tables[1], rs.Tables[0], {Name: "mangle"}}}
	nat := &shuffled.Tables[1]
	nat.Chains = []Chain{nat.Chains[2], nat.Chains[0], nat.Chains[1]}
	nat.Jumps = []Jump{nat.Jumps[2], nat.Jumps[1], nat.Jumps[0]}
	if err := f.Apply(shuffled); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Dump(IPv4); !reflect.DeepEqual(got, rs) {
		t.Errorf("Dump =\n%s\nwant\n%s", got, rs)
	}
}

func TestFakeFailNext(t *testing.T) {
	f := NewFake()
	boom := errors.New("boom")
	f.FailNext(boom)
	if err := f.Apply(For(spec(IPv4))); !errors.Is(err, boom) {
		t.Fatalf("Apply = %v, want boom", err)
	}
	if got, _ := f.Dump(IPv4); len(got.Tables) != 0 {
		t.Errorf("failed Apply stored %v", got)
	}
	f.FailNext(boom)
	if _, err := f.Dump(IPv4); !errors.Is(err, boom) {
		t.Errorf("Dump = %v, want boom", err)
	}
	if err := f.Apply(For(spec(IPv4))); err != nil {
		t.Errorf("FailNext failed more than one call: %v", err)
	}
}

func TestFakeRefuses(t *testing.T) {
	good := func() Ruleset { return For(spec(IPv4, "10.0.0.0/8")) }
	for _, tc := range []struct {
		name   string
		mutate func(*Ruleset)
		want   string
	}{
		{"family", func(rs *Ruleset) { rs.Family = "ipx" }, "family"},
		{"table", func(rs *Ruleset) { rs.Tables[0].Name = "nats" }, "unknown table"},
		{"table twice", func(rs *Ruleset) { rs.Tables[1].Name = "nat" }, "twice"},
		{"undeclared chain", func(rs *Ruleset) { rs.Tables[0].Chains = rs.Tables[0].Chains[1:] }, "not declared"},
		{"chain of the other table", func(rs *Ruleset) {
			rs.Tables[1].Chains[0].Rules = append(rs.Tables[1].Chains[0].Rules, "-j "+MarkMasqChain)
		}, "not declared"},
		{"foreign chain", func(rs *Ruleset) { rs.Tables[0].Chains[0].Name = "KUBE-MARK-MASQ" }, "must start with"},
		{"chain twice", func(rs *Ruleset) { rs.Tables[0].Chains[1].Name = rs.Tables[0].Chains[0].Name }, "twice"},
		{"jump from a non-built-in", func(rs *Ruleset) { rs.Tables[0].Jumps[0].Chain = "FORWARD" }, "not a built-in"},
		{"jump elsewhere", func(rs *Ruleset) { rs.Tables[0].Jumps[0].Rule = "-j ACCEPT" }, "does not enter"},
		{"multi-line rule", func(rs *Ruleset) { rs.Tables[0].Chains[0].Rules[0] += "\n-A PREROUTING -j DROP" }, "multi-line"},
		{"bad quote", func(rs *Ruleset) { rs.Tables[0].Chains[0].Rules[0] += ` -m comment --comment "x` }, "quote"},
		{"missing set", func(rs *Ruleset) {
			r := &rs.Tables[0].Chains[2].Rules[0]
			*r = strings.Replace(*r, "IPVS-PROXY-CLUSTER-IP", "NO-SUCH-SET", 1)
		}, "NO-SUCH-SET, which does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFake()
			f.SetExists = func(n string) bool { return strings.HasPrefix(n, "IPVS-PROXY-") }
			if err := f.Apply(good()); err != nil {
				t.Fatalf("good ruleset: %v", err)
			}
			rs := good()
			tc.mutate(&rs)
			err := f.Apply(rs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply = %v, want an error with %q", err, tc.want)
			}
			if got, _ := f.Dump(IPv4); !reflect.DeepEqual(got, good()) {
				t.Errorf("refused Apply changed the Fake:\n%s", got)
			}
		})
	}
}
