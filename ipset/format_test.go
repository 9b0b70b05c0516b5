package ipset

import (
	"slices"
	"testing"
)

func TestFormatMembers(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
		want    string
	}{
		{"empty", nil, ""},
		{"sorted by IP, then protocol, then port", []Entry{
			ep("10.96.0.10", "udp", 53), ep("10.96.0.2", "tcp", 80),
			ep("10.96.0.10", "tcp", 9153), ep("10.96.0.10", "tcp", 53),
		}, "add S 10.96.0.2,tcp:80\nadd S 10.96.0.10,tcp:53\nadd S 10.96.0.10,tcp:9153\nadd S 10.96.0.10,udp:53\n"},
		{"duplicates once", []Entry{ep("10.0.0.1", "tcp", 80), ep("10.0.0.1", "tcp", 80)},
			"add S 10.0.0.1,tcp:80\n"},
		{"IPv6 without brackets", []Entry{ep("fd00::a", "tcp", 80), ep("2001:db8::1", "sctp", 3868)},
			"add S 2001:db8::1,sctp:3868\nadd S fd00::a,tcp:80\n"},
		{"second IP", []Entry{
			epi("10.244.1.5", "tcp", 8080, "10.244.1.6"), epi("10.244.1.5", "tcp", 8080, "10.244.1.5"),
		}, "add S 10.244.1.5,tcp:8080,10.244.1.5\nadd S 10.244.1.5,tcp:8080,10.244.1.6\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.entries)
			if got := FormatMembers("S", tt.entries); got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
			if !slices.Equal(in, tt.entries) {
				t.Fatalf("FormatMembers reordered its argument: %v", tt.entries)
			}
		})
	}
}
