package sysctl

import (
	"fmt"
	"io/fs"
	"strings"
	"sync"
)

// Fake is an in-memory Interface. Parameters not set up front do not exist:
// Get and Set of them fail with an error that errors.Is(err, fs.ErrNotExist),
// as on /proc/sys.
type Fake struct {
	mu     sync.Mutex
	values map[string]string
	sets   []string
}

// NewFake returns a Fake holding values (names in either form).
func NewFake(values map[string]string) *Fake {
	f := &Fake{values: map[string]string{}}
	for n, v := range values {
		rel, err := Path(n)
		if err != nil {
			panic(err)
		}
		f.values[rel] = strings.TrimSpace(v)
	}
	return f
}

// Get returns the value.
func (f *Fake) Get(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rel, err := f.lookup(name)
	if err != nil {
		return "", err
	}
	return f.values[rel], nil
}

// Set changes an existing parameter.
func (f *Fake) Set(name, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	rel, err := f.lookup(name)
	if err != nil {
		return err
	}
	f.values[rel] = strings.TrimSpace(value)
	f.sets = append(f.sets, rel+"="+f.values[rel])
	return nil
}

// Sets returns the Set calls so far as "net/ipv4/ip_forward=1".
func (f *Fake) Sets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sets...)
}

func (f *Fake) lookup(name string) (string, error) {
	rel, err := Path(name)
	if err != nil {
		return "", err
	}
	if _, ok := f.values[rel]; !ok {
		return "", fmt.Errorf("sysctl: %s: %w", name, fs.ErrNotExist)
	}
	return rel, nil
}
