// Package sysctl reads and writes kernel parameters under /proc/sys, and
// ensures the ones ipvs-proxy needs.
package sysctl

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Interface gets and sets kernel parameters. A name is a path under /proc/sys
// ("net/ipv4/vs/conntrack") or, without any "/", the dotted form sysctl(8)
// uses ("net.ipv4.vs.conntrack"). Values are compared and returned without
// surrounding blanks.
type Interface interface {
	Get(name string) (string, error)
	Set(name, value string) error
}

// Proc is the Interface over files below Root (/proc/sys for New).
type Proc struct{ Root string }

// New returns the Interface over /proc/sys.
func New() *Proc { return &Proc{Root: "/proc/sys"} }

// Get reads a parameter.
func (p *Proc) Get(name string) (string, error) {
	path, err := p.path(name)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("sysctl: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Set writes a parameter; it must exist.
func (p *Proc) Set(name, value string) error {
	path, err := p.path(name)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("sysctl: %w", err)
	}
	_, err = f.WriteString(value + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sysctl: set %s=%s: %w", name, value, err)
	}
	return nil
}

func (p *Proc) path(name string) (string, error) {
	rel, err := Path(name)
	if err != nil {
		return "", err
	}
	return filepath.Join(p.Root, rel), nil
}

// Path returns name as a path below /proc/sys: dots become slashes unless
// name already has a slash (interface names such as eth0.100 hold dots, so
// write those parameters with slashes). Empty, absolute and ".." paths are
// refused.
func Path(name string) (string, error) {
	rel := name
	if !strings.Contains(rel, "/") {
		rel = strings.ReplaceAll(rel, ".", "/")
	}
	if rel == "" || strings.HasPrefix(rel, "/") || !fs.ValidPath(rel) {
		return "", fmt.Errorf("sysctl: invalid parameter name %q", name)
	}
	return rel, nil
}
