package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-logr/logr"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
)

func TestLogger(t *testing.T) {
	tests := []struct {
		format    string
		verbosity int
		want      []string // messages printed
		not       []string // messages not printed
	}{
		{"text", 0, []string{"v0"}, []string{"v1", "v2"}},
		{"text", 1, []string{"v0", "v1"}, []string{"v2"}},
		{"json", 2, []string{"v0", "v1", "v2"}, nil},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		cfg := v1alpha1.Defaults()
		cfg.LogFormat, cfg.Verbosity = tt.format, tt.verbosity
		log := logr.FromContextOrDiscard(withLogger(context.Background(), cfg, &buf))
		log.Info("v0", "k", 1)
		log.V(1).Info("v1")
		log.V(2).Info("v2")
		out := buf.String()
		for _, w := range tt.want {
			if !strings.Contains(out, "msg="+w) && !strings.Contains(out, `"msg":"`+w+`"`) {
				t.Errorf("%s/%d: %q not logged:\n%s", tt.format, tt.verbosity, w, out)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(out, w) {
				t.Errorf("%s/%d: %q logged:\n%s", tt.format, tt.verbosity, w, out)
			}
		}
		if tt.format == "json" {
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if !json.Valid([]byte(line)) {
					t.Errorf("not JSON: %s", line)
				}
			}
		}
	}
}
