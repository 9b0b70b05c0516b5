package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// A DaemonSet pod of the local image becomes one `ip netns exec NODE agent
// chroot-run` command: the ConfigMap written out and mounted, hostPath
// volumes mounted (FileOrCreate created), the service-account files, the
// downward-API NODE_NAME, the in-cluster API server and the container's
// command, in that order.
func TestImageArgv(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "xtables.lock")
	foc := corev1.HostPathFileOrCreate
	cs := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "ipvs-proxy"},
		Data:       map[string]string{"config.yaml": "scheduler: rr\n"},
	})
	cs.PrependReactor("create", "serviceaccounts", func(act k8stesting.Action) (bool, runtime.Object, error) {
		if act.GetSubresource() != "token" {
			return false, nil, nil
		}
		return true, &authv1.TokenRequest{Status: authv1.TokenRequestStatus{Token: "TOKEN"}}, nil
	})
	a := &agent{cs: cs, node: "node-a", nodeIP: "192.168.1.10", netns: "node-a", self: "/agent",
		imageRootfs: "/rootfs", imageName: "ipvs-proxy", apiHost: "10.0.2.100", apiPort: "26443", caPEM: []byte("CA")}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "ipvs-proxy-x", UID: "u1"},
		Spec: corev1.PodSpec{
			HostNetwork: true, ServiceAccountName: "ipvs-proxy",
			Containers: []corev1.Container{{
				Name: "ipvs-proxy", Image: "ipvs-proxy:dev",
				Command: []string{"/ipvs-proxy", "run", "--config=/etc/ipvs-proxy/config.yaml"},
				Env: []corev1.EnvVar{{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
				VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/ipvs-proxy"}, {Name: "lock", MountPath: "/run/xtables.lock"}},
			}},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "ipvs-proxy"}}}},
				{Name: "lock", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: lock, Type: &foc}}},
			},
		},
	}
	if !a.imageMatches(p) {
		t.Fatal("ipvs-proxy:dev does not match --image ipvs-proxy")
	}
	argv, err := a.imageArgv(context.Background(), p, dir)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(argv, " ")
	want := "ip netns exec node-a /agent chroot-run --rootfs /rootfs" +
		" --mount " + dir + "/volumes/config:/etc/ipvs-proxy --mount " + lock + ":/run/xtables.lock" +
		" --mount " + dir + "/serviceaccount:" + saMountPath +
		" --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env HOSTNAME=node-a" +
		" --env KUBERNETES_SERVICE_HOST=10.0.2.100 --env KUBERNETES_SERVICE_PORT=26443 --env NODE_NAME=node-a" +
		" -- /ipvs-proxy run --config=/etc/ipvs-proxy/config.yaml"
	if got != want {
		t.Errorf("argv:\n got %s\nwant %s", got, want)
	}
	for f, want := range map[string]string{
		dir + "/volumes/config/config.yaml": "scheduler: rr\n",
		dir + "/serviceaccount/ca.crt":      "CA",
		dir + "/serviceaccount/token":       "TOKEN",
		dir + "/serviceaccount/namespace":   "kube-system",
		lock:                                "",
	} {
		b, err := os.ReadFile(f)
		if err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", f, b, err, want)
		}
	}
	if !slices.ContainsFunc(cs.Actions(), func(a k8stesting.Action) bool { return a.GetSubresource() == "token" }) {
		t.Errorf("no TokenRequest for the pod's service account")
	}
	p.Spec.Containers[0].Image = "ipvs-proxy-other:dev"
	if a.imageMatches(p) {
		t.Errorf("ipvs-proxy-other:dev matches --image ipvs-proxy")
	}
}
