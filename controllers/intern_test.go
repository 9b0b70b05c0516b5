package controllers

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// The interner is bounded: it holds at most internCap strings (and as
// many pointers), none longer than internMaxLen; past that, strings pass
// through unchanged. Known values are shared whatever the table holds.
func TestInternerIsBounded(t *testing.T) {
	in := newInterner()
	for i := range internCap + 100 {
		s := fmt.Sprintf("ns-%d", i)
		if got := in.str(s); got != s {
			t.Fatalf("str(%q) = %q", s, got)
		}
		p := in.strPtr(&s)
		if *p != s {
			t.Fatalf("strPtr(%q) = %q", s, *p)
		}
		v := int32(i)
		if q := in.port(&v); *q != v {
			t.Fatalf("port(%d) = %d", v, *q)
		}
	}
	if len(in.strs) != internCap || len(in.ptrs) != internCap || len(in.ports) != internCap {
		t.Errorf("table holds %d strings, %d pointers, %d ports; want at most %d each", len(in.strs), len(in.ptrs), len(in.ports), internCap)
	}
	long := strings.Repeat("x", internMaxLen+1)
	if in.str(long); len(in.strs) != internCap {
		t.Error("a long string was added")
	}
	fresh := newInterner()
	long2 := strings.Clone(long)
	if got := fresh.str(long2); unsafe.StringData(got) != unsafe.StringData(long2) || len(fresh.strs) != 0 {
		t.Error("a string longer than internMaxLen was interned")
	}
	// Known values are shared even by a full table.
	tcp := strings.Clone("TCP")
	if got := in.str(tcp); unsafe.StringData(got) == unsafe.StringData(tcp) {
		t.Error("a known value was not shared by a full table")
	}
	// A string held is shared: the second copy gets the first.
	a, b := strings.Clone("web"), strings.Clone("web")
	if fresh.str(a); unsafe.StringData(fresh.str(b)) != unsafe.StringData(fresh.strs["web"]) {
		t.Error("a repeated short string was not shared")
	}
	if pa, pb := fresh.strPtr(&a), fresh.strPtr(&b); pa != pb {
		t.Error("a repeated short string's pointer was not shared")
	}
}
