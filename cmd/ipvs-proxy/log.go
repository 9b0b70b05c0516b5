package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/go-logr/logr"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
)

// newLogger returns the logger cfg asks for, writing to w: text or JSON, and
// V(n) messages printed for n up to cfg.Verbosity.
func newLogger(cfg v1alpha1.Config, w io.Writer) logr.Logger {
	// logr's V(n) is slog level -n.
	opts := &slog.HandlerOptions{Level: slog.Level(-cfg.Verbosity)}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return logr.FromSlogHandler(h)
}

// withLogger puts the logger cfg asks for into ctx.
func withLogger(ctx context.Context, cfg v1alpha1.Config, w io.Writer) context.Context {
	return logr.NewContext(ctx, newLogger(cfg, w))
}
