package rules

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// managedTables are the tables Apply and Dump always look at, so that Apply
// also removes our chains from a table rs no longer uses (mangle holds the
// load balancers' node-access filter, see external.go).
var managedTables = []string{"nat", "filter", "mangle"}

// Config selects the iptables binaries the Kernel runs.
type Config struct {
	// Backend picks the xtables variant: "" runs iptables-restore and
	// iptables-save (on Debian 12 the nft variant, via alternatives), "nft"
	// runs iptables-nft-restore etc., "legacy" iptables-legacy-restore etc.
	// Use what the node's other rule writers (kube-proxy, the CNI) use.
	Backend string
	// Prefix is prepended to every command, e.g. {"ip", "netns", "exec", "test"}
	// in tests; empty in production.
	Prefix []string
	// Timeout bounds each command; zero means one minute.
	Timeout time.Duration
}

// Kernel is the Interface over iptables-save and iptables-restore. Apply
// runs one iptables-save -t TABLE per managed table and at most one
// iptables-restore --noflush; Dump runs one iptables-save per managed table.
type Kernel struct {
	cfg Config
	mu  sync.Mutex // one Apply or Dump at a time
}

var _ Interface = (*Kernel)(nil)

// New checks that the binaries of c exist and returns the adapter.
func New(c Config) (*Kernel, error) {
	if c.Backend != "" && c.Backend != "nft" && c.Backend != "legacy" {
		return nil, fmt.Errorf("rules: backend %q is neither \"nft\" nor \"legacy\"", c.Backend)
	}
	if c.Timeout == 0 {
		c.Timeout = time.Minute
	}
	k := &Kernel{cfg: c}
	need := slices.Clone(c.Prefix[:min(len(c.Prefix), 1)])
	for _, f := range []Family{IPv4, IPv6} {
		need = append(need, k.bin(f, "save"), k.bin(f, "restore"))
	}
	for _, n := range need {
		if _, err := exec.LookPath(n); err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
	}
	return k, nil
}

// Apply makes our chains in rs's family hold exactly rs: it declares (creates
// or flushes) and fills the chains of rs, puts the jumps of rs first in their
// built-in chains (inserting missing ones, moving up buried ones), deletes
// duplicate jumps and the jumps from built-in chains into ours that rs does
// not have, and deletes our chains that rs does not have. rs.Buried is ignored.
// Rules of other chains are never touched. Everything goes into one iptables-restore
// --noflush, atomic per table; when the kernel already holds rs, nothing runs
// after iptables-save. Apply(Ruleset{Family: f}) removes all of ours.
func (k *Kernel) Apply(rs Ruleset) error {
	if err := check(rs, nil); err != nil {
		return err
	}
	rs = canonical(rs)
	for i := range rs.Tables {
		rs.Tables[i].Buried = nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var text strings.Builder
	for _, name := range tablesOf(rs) {
		cur, err := k.save(rs.Family, name)
		if err != nil {
			return err
		}
		want := Table{Name: name}
		for _, t := range rs.Tables {
			if t.Name == name {
				want = t
			}
		}
		if have := cur.ours(name); !reflect.DeepEqual(have, want) {
			writeChange(&text, want, have, cur.foreignRefs(name))
		}
	}
	if text.Len() == 0 {
		return nil
	}
	_, err := k.run(text.String(), k.bin(rs.Family, "restore"), "--noflush", "--wait=5")
	if err != nil {
		return fmt.Errorf("%w%s", err, failedLine(err.Error(), text.String()))
	}
	return nil
}

// Dump returns our chains and the jumps into them, canonical.
func (k *Kernel) Dump(f Family) (Ruleset, error) {
	if f != IPv4 && f != IPv6 {
		return Ruleset{}, fmt.Errorf("rules: family %q is neither %q nor %q", f, IPv4, IPv6)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	rs := Ruleset{Family: f}
	for _, name := range managedTables {
		cur, err := k.save(f, name)
		if err != nil {
			return Ruleset{}, err
		}
		rs.Tables = append(rs.Tables, cur.ours(name))
	}
	return canonical(rs), nil
}

// movedChains returns the built-in chains, sorted, whose jumps must be
// rewritten: those where have's jumps differ from want's or are buried.
func movedChains(want, have Table) []string {
	var out []string
	for _, c := range builtins[want.Name] {
		in := func(js []Jump) []Jump {
			var r []Jump
			for _, j := range js {
				if j.Chain == c {
					r = append(r, j)
				}
			}
			return r
		}
		if !slices.Equal(in(have.Jumps), in(want.Jumps)) || len(in(have.Buried)) > 0 {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// tablesOf returns the managed tables and those of rs, in canonical order.
func tablesOf(rs Ruleset) []string {
	names := slices.Clone(managedTables)
	for _, t := range rs.Tables {
		if !slices.Contains(names, t.Name) {
			names = append(names, t.Name)
		}
	}
	return names
}

// writeChange writes the iptables-restore block that turns have (our part of
// the table now) into want. In every built-in chain whose jumps into ours
// differ from want's (missing, duplicated, outdated, or buried under someone
// else's rules), all of our jumps are deleted and want's inserted at the top,
// in want's order; in one restore, so there is no moment without them. A chain of ours that want lacks is flushed and
// deleted, unless another user chain (not ours to edit) still enters it: then
// it is only flushed, and Dump keeps reporting it, empty.
func writeChange(b *strings.Builder, want, have Table, pinned map[string]bool) {
	b.WriteString("*" + want.Name + "\n")
	var stale []string
	for _, c := range have.Chains {
		if !slices.ContainsFunc(want.Chains, func(w Chain) bool { return w.Name == c.Name }) {
			stale = append(stale, c.Name)
			b.WriteString(":" + c.Name + " - [0:0]\n") // flush before -X
		}
	}
	moved := movedChains(want, have)
	for _, c := range moved {
		for _, j := range have.Jumps {
			if j.Chain == c {
				b.WriteString("-D " + j.Chain + " " + j.Rule + "\n")
			}
		}
	}
	writeChains(b, want)
	for _, c := range moved {
		for i := len(want.Jumps) - 1; i >= 0; i-- {
			if j := want.Jumps[i]; j.Chain == c {
				b.WriteString("-I " + j.Chain + " 1 " + j.Rule + "\n")
			}
		}
	}
	for _, c := range stale {
		if !pinned[c] {
			b.WriteString("-X " + c + "\n")
		}
	}
	b.WriteString("COMMIT\n")
}

// save runs iptables-save for one table and returns that table.
func (k *Kernel) save(f Family, table string) (*saved, error) {
	out, err := k.run("", k.bin(f, "save"), "-t", table)
	if err != nil {
		return nil, err
	}
	tables, err := parseSave(out)
	if err != nil {
		return nil, err
	}
	if t := tables[table]; t != nil {
		return t, nil
	}
	return &saved{}, nil
}

// bin names the family's save or restore binary for the backend.
func (k *Kernel) bin(f Family, tool string) string {
	name := "iptables"
	if f == IPv6 {
		name = "ip6tables"
	}
	if k.cfg.Backend != "" {
		name += "-" + k.cfg.Backend
	}
	return name + "-" + tool
}

// run runs name with args behind the prefix, feeding stdin, and returns stdout.
func (k *Kernel) run(stdin, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), k.cfg.Timeout)
	defer cancel()
	argv := append(slices.Clone(k.cfg.Prefix), name)
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("rules: %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

var lineRE = regexp.MustCompile(`line:? (\d+)`)

// failedLine quotes the input line an iptables-restore error message names.
func failedLine(msg, input string) string {
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	n, _ := strconv.Atoi(m[1])
	lines := strings.Split(input, "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	return fmt.Sprintf(" (input line %d: %s)", n, lines[n-1])
}
