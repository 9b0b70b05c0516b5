package ipvs

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/sirupsen/logrus"
)

// What moby/ipvs logs through logrus comes out of our logger, as JSON when
// it is JSON, and nothing is written in logrus's own format.
func TestRouteLibraryLogs(t *testing.T) {
	std := logrus.StandardLogger()
	out, level, hooks := std.Out, std.GetLevel(), std.Hooks
	t.Cleanup(func() {
		std.SetOutput(out)
		std.SetLevel(level)
		std.ReplaceHooks(hooks)
	})
	var stderr bytes.Buffer
	std.SetOutput(&stderr) // where logrus wrote before
	var buf bytes.Buffer
	RouteLibraryLogs(logr.FromSlogHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.Level(-1)})))

	// The two calls moby/ipvs v1.1.0 makes (netlink_linux.go), and a few more.
	logrus.Warnf("Running modprobe ip_vs failed with message: `%s`, error: %v", "modprobe: FATAL: Module ip_vs not found", errors.New("exit status 1"))
	logrus.Error("Could not get ipvs family information from the kernel.")
	logrus.WithError(errors.New("boom")).WithField("service", "10.0.0.1:80").Info("with fields")
	logrus.Debug("debug is V(4), not printed at verbosity 1")

	if stderr.Len() != 0 {
		t.Errorf("logrus still wrote its own lines: %q", stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), buf.String())
	}
	want := []map[string]any{
		{"level": "INFO", "msg": "Running modprobe ip_vs failed with message: `modprobe: FATAL: Module ip_vs not found`, error: exit status 1", "library": "moby/ipvs"},
		{"level": "ERROR", "msg": "Could not get ipvs family information from the kernel.", "library": "moby/ipvs"},
		{"level": "DEBUG+3", "msg": "with fields", "library": "moby/ipvs", "service": "10.0.0.1:80", "err": "boom"},
	}
	for i, line := range lines {
		var got map[string]any
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d is not JSON: %q", i+1, line)
		}
		for k, v := range want[i] {
			if got[k] != v {
				t.Errorf("line %d: %s = %v, want %v (%s)", i+1, k, got[k], v, line)
			}
		}
	}
}
