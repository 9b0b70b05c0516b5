package main

// The kubelet's log endpoint, as much of it as `kubectl logs` needs:
// GET /containerLogs/{namespace}/{pod}/{container}[?tailLines=N] over TLS.
// The API server calls it at the Node's preferred address and
// status.daemonEndpoints.kubeletEndpoint.Port with its kubelet client
// certificate (--kubelet-client-certificate); we serve a self-signed
// certificate (the API server does not verify it without
// --kubelet-certificate-authority) and accept only clients whose
// certificate the --kubelet-client-ca signed: that is the whole authn, there
// is no authz (a kubelet would ask the API server with a SubjectAccessReview).

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// serveLogs listens on addr until the process ends.
func (a *agent) serveLogs(addr, clientCAFile string) error {
	cfg, err := a.logsTLS(clientCAFile)
	if err != nil {
		return err
	}
	ln, err := tls.Listen("tcp", addr, cfg)
	if err != nil {
		return err
	}
	log.Printf("kubelet log endpoint on %s (TLS, client certificates of %s)", addr, clientCAFile)
	return http.Serve(ln, a.logsHandler())
}

// logsTLS: a self-signed serving certificate; clients must present a
// certificate that clientCAFile signed.
func (a *agent) logsTLS(clientCAFile string) (*tls.Config, error) {
	ca, err := os.ReadFile(clientCAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s: no certificate", clientCAFile)
	}
	cert, err := selfSigned(a.node)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

func (a *agent) logsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", a.containerLogs)
	return mux
}

func (a *agent) containerLogs(w http.ResponseWriter, r *http.Request) {
	ns, pod, container := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	a.mu.Lock()
	file := a.logs[ns+"/"+pod]
	a.mu.Unlock()
	if file == "" {
		http.Error(w, fmt.Sprintf("pod %s/%s (container %s) has no logs on node %s", ns, pod, container, a.node), http.StatusNotFound)
		return
	}
	f, err := os.Open(file)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain")
	if n, err := strconv.Atoi(r.URL.Query().Get("tailLines")); err == nil && n >= 0 {
		var lines []string
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if len(lines) > n {
				lines = lines[1:]
			}
		}
		if len(lines) > 0 {
			fmt.Fprintln(w, strings.Join(lines, "\n"))
		}
		return
	}
	_, _ = io.Copy(w, f)
}

func selfSigned(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{name, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
