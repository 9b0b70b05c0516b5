package main

// Pods whose image is the locally built one (--image-rootfs, `make image`'s
// unpacked rootfs): the DaemonSet's ipvs-proxy pods. They run as a container
// runtime would run a privileged hostNetwork container, minus the isolation
// the demo does not need: in the node's network namespace, in a private
// mount namespace (ip netns exec makes one), chrooted into the rootfs with
// the pod's volumes (ConfigMap, hostPath, the service-account token) bind
// mounted, the container's command/args and env (downward-API
// spec.nodeName and status.hostIP resolved), and the in-cluster API
// server address in KUBERNETES_SERVICE_HOST/PORT.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const saMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// imageMatches: the pod's (only) container uses the local image.
func (a *agent) imageMatches(p *corev1.Pod) bool {
	if a.imageRootfs == "" || a.imageName == "" || len(p.Spec.Containers) != 1 {
		return false
	}
	img := p.Spec.Containers[0].Image
	return img == a.imageName || strings.HasPrefix(img, a.imageName+":") || strings.HasPrefix(img, a.imageName+"@")
}

// imageArgv prepares the pod's volumes under dir and returns the command
// that runs its container: `agent chroot-run` inside the node netns.
func (a *agent) imageArgv(ctx context.Context, p *corev1.Pod, dir string) ([]string, error) {
	c := p.Spec.Containers[0]
	mounts, err := a.volumeMounts(ctx, p, c, dir)
	if err != nil {
		return nil, err
	}
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=" + a.node}
	if a.apiHost != "" {
		env = append(env, "KUBERNETES_SERVICE_HOST="+a.apiHost, "KUBERNETES_SERVICE_PORT="+a.apiPort)
	}
	for _, e := range c.Env {
		v := e.Value
		if f := e.ValueFrom; f != nil && f.FieldRef != nil {
			switch f.FieldRef.FieldPath {
			case "spec.nodeName":
				v = a.node
			case "status.hostIP", "status.podIP":
				v = a.nodeIP
			case "metadata.name":
				v = p.Name
			case "metadata.namespace":
				v = p.Namespace
			default:
				return nil, fmt.Errorf("env %s: fieldRef %s not supported by the demo agent", e.Name, f.FieldRef.FieldPath)
			}
		}
		env = append(env, e.Name+"="+v)
	}
	argv := []string{"ip", "netns", "exec", a.netns, a.self, "chroot-run", "--rootfs", a.imageRootfs}
	for _, m := range mounts {
		argv = append(argv, "--mount", m)
	}
	for _, e := range env {
		argv = append(argv, "--env", e)
	}
	argv = append(argv, "--")
	argv = append(argv, c.Command...)
	argv = append(argv, c.Args...)
	return argv, nil
}

// volumeMounts materialises the container's volumes and returns SRC:DST
// bind mounts.
func (a *agent) volumeMounts(ctx context.Context, p *corev1.Pod, c corev1.Container, dir string) ([]string, error) {
	vols := map[string]corev1.Volume{}
	for _, v := range p.Spec.Volumes {
		vols[v.Name] = v
	}
	var mounts []string
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume %s not in the pod", m.Name)
		}
		switch {
		case v.ConfigMap != nil:
			src := filepath.Join(dir, "volumes", m.Name)
			cm, err := a.cs.CoreV1().ConfigMaps(p.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("configMap volume %s: %w", m.Name, err)
			}
			if err := os.MkdirAll(src, 0o755); err != nil {
				return nil, err
			}
			for k, val := range cm.Data {
				if err := os.WriteFile(filepath.Join(src, k), []byte(val), 0o644); err != nil {
					return nil, err
				}
			}
			mounts = append(mounts, src+":"+m.MountPath)
		case v.HostPath != nil:
			if v.HostPath.Type != nil && *v.HostPath.Type == corev1.HostPathFileOrCreate {
				if f, err := os.OpenFile(v.HostPath.Path, os.O_CREATE|os.O_RDONLY, 0o600); err == nil {
					f.Close()
				}
			}
			mounts = append(mounts, v.HostPath.Path+":"+m.MountPath)
		case v.Projected != nil && m.MountPath == saMountPath:
			// handled below with the token
		default:
			return nil, fmt.Errorf("volume %s: only configMap and hostPath volumes are supported by the demo agent", m.Name)
		}
	}
	if p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken {
		src, err := a.serviceAccountDir(ctx, p, filepath.Join(dir, "serviceaccount"))
		if err != nil {
			return nil, err
		}
		mounts = append(mounts, src+":"+saMountPath)
	}
	return mounts, nil
}

// serviceAccountDir writes token, ca.crt and namespace as the kubelet's
// projected volume does, with a token bound to the pod (TokenRequest).
func (a *agent) serviceAccountDir(ctx context.Context, p *corev1.Pod, dir string) (string, error) {
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	exp := int64(24 * 3600)
	tr, err := a.cs.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, sa, &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{
			ExpirationSeconds: &exp,
			BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for service account %s/%s: %w", p.Namespace, sa, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	files := map[string][]byte{"token": []byte(tr.Status.Token), "ca.crt": a.caPEM, "namespace": []byte(p.Namespace)}
	for k, v := range files {
		if err := os.WriteFile(filepath.Join(dir, k), v, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// runChroot: agent chroot-run --rootfs DIR [--mount SRC:DST]... [--env K=V]... -- CMD [ARGS]
// Run by `ip netns exec` (so in a mount namespace of its own): binds /proc,
// /sys, /dev and the mounts into DIR, chroots there and execs CMD with only
// the given environment.
func runChroot(args []string) error {
	var rootfs string
	var mounts, env []string
	for len(args) > 0 && args[0] != "--" {
		if len(args) < 2 {
			return fmt.Errorf("chroot-run: %s needs a value", args[0])
		}
		switch args[0] {
		case "--rootfs":
			rootfs = args[1]
		case "--mount":
			mounts = append(mounts, args[1])
		case "--env":
			env = append(env, args[1])
		default:
			return fmt.Errorf("chroot-run: unknown flag %s", args[0])
		}
		args = args[2:]
	}
	if rootfs == "" || len(args) < 2 {
		return fmt.Errorf("usage: agent chroot-run --rootfs DIR [--mount SRC:DST]... [--env K=V]... -- CMD [ARGS]")
	}
	argv := args[1:]
	for _, m := range append([]string{"/proc:/proc", "/sys:/sys", "/dev:/dev"}, mounts...) {
		src, dst, ok := strings.Cut(m, ":")
		if !ok {
			return fmt.Errorf("chroot-run: bad mount %q", m)
		}
		if err := bindMount(src, filepath.Join(rootfs, dst)); err != nil {
			return err
		}
	}
	if err := syscall.Chroot(rootfs); err != nil {
		return fmt.Errorf("chroot %s: %w", rootfs, err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	return syscall.Exec(argv[0], argv, env)
}

func bindMount(src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if st.IsDir() {
		err = os.MkdirAll(dst, 0o755)
	} else if err = os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
		var f *os.File
		if f, err = os.OpenFile(dst, os.O_CREATE|os.O_RDONLY, 0o644); err == nil {
			f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("mount point %s: %w", dst, err)
	}
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, dst, err)
	}
	return nil
}

// readCA: the API server's CA from the kubeconfig, for the pods' ca.crt.
func readCA(data []byte, file string) ([]byte, error) {
	if len(data) > 0 {
		return data, nil
	}
	if file == "" {
		return nil, fmt.Errorf("kubeconfig has no certificate authority")
	}
	return os.ReadFile(file)
}
