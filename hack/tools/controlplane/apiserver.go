package main

// kube-apiserver: secure port only, on host loopback, RBAC on, serving cert
// and client CA from our own PKI, fixed service CIDR and node-port range.

import (
	"context"
	"strconv"
)

type apiserverConfig struct {
	bin           string
	port          int
	etcdURL       string
	serviceCIDR   string
	nodePortRange string
	authorization string
	pki           *pki
	extraArgs     []string
}

func (a apiserverConfig) args() []string {
	args := []string{
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(a.port),
		// Loopback is refused as advertise address unless the endpoints
		// reconciler (which would publish it in default/kubernetes) is off.
		"--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		"--etcd-servers=" + a.etcdURL,
		"--service-cluster-ip-range=" + a.serviceCIDR,
		"--service-node-port-range=" + a.nodePortRange,
		"--authorization-mode=" + a.authorization,
		"--allow-privileged=true",
		"--client-ca-file=" + a.pki.CAFile,
		"--tls-cert-file=" + a.pki.ServingCertFile,
		"--tls-private-key-file=" + a.pki.ServingKeyFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + a.pki.SAPubFile,
		"--service-account-signing-key-file=" + a.pki.SAKeyFile,
		"--profiling=false",
		"--v=1",
	}
	return append(args, a.extraArgs...)
}

// startAPIServer starts it and waits for /readyz as client (admin).
func startAPIServer(ctx context.Context, a apiserverConfig, logDir string, admin *keyPair) (*child, error) {
	c, err := startChild("kube-apiserver", a.bin, a.args(), logDir)
	if err != nil {
		return nil, err
	}
	hc, err := tlsClient(a.pki.CA.CertPEM, admin)
	if err != nil {
		return c, err
	}
	url := "https://127.0.0.1:" + strconv.Itoa(a.port) + "/readyz"
	return c, waitHTTP(ctx, c, hc, url, apiserverStartTimeout)
}
