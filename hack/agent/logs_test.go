package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// clientCert makes a CA (written to dir/ca.crt) and a client certificate it signed.
func clientCert(t *testing.T, dir string) tls.Certificate {
	t.Helper()
	mk := func(tmpl, parent *x509.Certificate, signer *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if parent == nil {
			parent, signer = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, key, der
	}
	now := time.Now()
	ca, caKey, caDER := mk(&x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	_, key, der := mk(&x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver-kubelet-client"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}, ca, caKey)
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// The log endpoint serves a pod's log file (whole, or its last tailLines) to
// clients with a certificate of the kubelet client CA, and refuses others.
func TestContainerLogs(t *testing.T) {
	dir := t.TempDir()
	cert := clientCert(t, dir)
	logFile := filepath.Join(dir, "pod.log")
	if err := os.WriteFile(logFile, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := &agent{node: "node-a", logs: map[string]string{"kube-system/ipvs-proxy-x": logFile}}
	cfg, err := a.logsTLS(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.logsHandler())
	srv.TLS = cfg
	srv.StartTLS()
	defer srv.Close()

	get := func(c tls.Certificate, path string) (int, string, error) {
		tc := &tls.Config{InsecureSkipVerify: true} // as the API server without --kubelet-certificate-authority
		if c.Certificate != nil {
			tc.Certificates = []tls.Certificate{c}
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	for _, tc := range []struct {
		path, want string
		code       int
	}{
		{"/containerLogs/kube-system/ipvs-proxy-x/ipvs-proxy", "one\ntwo\nthree\n", 200},
		{"/containerLogs/kube-system/ipvs-proxy-x/ipvs-proxy?tailLines=2", "two\nthree\n", 200},
		{"/containerLogs/default/nope/c", "", 404},
	} {
		code, body, err := get(cert, tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if code != tc.code || (tc.code == 200 && body != tc.want) {
			t.Errorf("%s: %d %q, want %d %q", tc.path, code, body, tc.code, tc.want)
		}
	}
	if _, _, err := get(tls.Certificate{}, "/containerLogs/kube-system/ipvs-proxy-x/ipvs-proxy"); err == nil {
		t.Errorf("a client without a certificate got an answer")
	}
}
