package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// plan -f - reads the standard input and prints what the file would give.
func TestPlanStdin(t *testing.T) {
	cleanEnv(t)
	in, err := os.ReadFile(filepath.Join(examples, "web-nodeport.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "web-nodeport.golden"))
	if err != nil {
		t.Fatal(err)
	}
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetArgs([]string{"plan", "-f", "-", "--node-name", "node-a"})
	root.SetIn(bytes.NewReader(in))
	root.SetOut(&out)
	root.SetErr(&errOut)
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("plan -f -: %v\n%s", err, errOut.String())
	}
	if out.String() != string(want) {
		t.Errorf("plan -f - differs from the golden file:\n%s", out.String())
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr = %q, want nothing", errOut.String())
	}
}
