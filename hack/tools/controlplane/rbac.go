package main

// Applies the project's RBAC manifests (config/rbac/*.yaml) with the admin
// kubeconfig, retrying while the API server finishes bootstrapping
// (kube-system may not exist for the first moments).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

const rbacTimeout = 60 * time.Second

func applyRBAC(ctx context.Context, kubectl, adminKubeconfig, rbacDir string) error {
	files, err := filepath.Glob(filepath.Join(rbacDir, "*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no *.yaml in %s", rbacDir)
	}
	args := []string{"--kubeconfig=" + adminKubeconfig, "apply"}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	deadline := time.Now().Add(rbacTimeout)
	for {
		out, err := exec.CommandContext(ctx, kubectl, args...).CombinedOutput()
		if err == nil {
			os.Stdout.Write(out)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kubectl apply RBAC: %v\n%s", err, out)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
