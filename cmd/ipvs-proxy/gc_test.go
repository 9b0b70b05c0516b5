package main

import (
	"runtime/debug"
	"testing"
)

func TestSetGCPercent(t *testing.T) {
	was := debug.SetGCPercent(100)
	defer debug.SetGCPercent(was)

	if !setGCPercent(func(string) (string, bool) { return "", false }) {
		t.Fatal("GOGC unset: the default was not applied")
	}
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Fatalf("GOGC unset: the collector's target is %d, want %d", got, defaultGCPercent)
	}
	if setGCPercent(func(k string) (string, bool) { return "200", k == "GOGC" }) {
		t.Fatal("GOGC set: the default overrode it")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC set: the collector's target changed to %d", got)
	}
}
