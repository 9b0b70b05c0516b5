package main

// Kubeconfig files with all credentials embedded, so a file can be copied
// as-is into the guest VM.

import (
	"encoding/base64"
	"fmt"
	"os"
)

// kubeconfig describes one file to write.
type kubeconfig struct {
	Server        string // e.g. https://127.0.0.1:6443
	TLSServerName string // optional; the name checked against the serving cert
	User          string // only used to name the context/user entries
	CAPEM         []byte
	Client        *keyPair
}

func (k kubeconfig) render() []byte {
	b64 := base64.StdEncoding.EncodeToString
	tlsName := ""
	if k.TLSServerName != "" {
		tlsName = fmt.Sprintf("    tls-server-name: %s\n", k.TLSServerName)
	}
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: ipvs-proxy-test
  cluster:
    server: %s
%s    certificate-authority-data: %s
users:
- name: %q
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: %q
  context:
    cluster: ipvs-proxy-test
    user: %q
current-context: %q
`, k.Server, tlsName, b64(k.CAPEM), k.User, b64(k.Client.CertPEM), b64(k.Client.KeyPEM),
		k.User, k.User, k.User))
}

func (k kubeconfig) write(path string) error {
	return os.WriteFile(path, k.render(), 0o600)
}
