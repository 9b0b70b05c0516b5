package main

// Polling helpers: wait for an HTTP endpoint to answer 200 while watching
// that the process serving it is still alive.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

const (
	etcdStartTimeout      = 30 * time.Second
	apiserverStartTimeout = 120 * time.Second
	pollInterval          = 100 * time.Millisecond
)

func plainClient() *http.Client { return &http.Client{Timeout: 2 * time.Second} }

// tlsClient trusts caPEM and presents client (may be nil).
func tlsClient(caPEM []byte, client *keyPair) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("bad CA PEM")
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if client != nil {
		cert, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}, nil
}

// waitHTTP polls url until it returns 200, c exits, ctx ends or timeout passes.
func waitHTTP(ctx context.Context, c *child, hc *http.Client, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		if c.exited() {
			return fmt.Errorf("%s exited (%v) before %s was ready; log %s:\n%s", c.name, c.err, url, c.logPath, c.tail(3000))
		}
		resp, err := hc.Get(url)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
	return fmt.Errorf("%s: %s not ready after %s (last: %s); log %s", c.name, url, timeout, last, c.logPath)
}

// freePort asks the kernel for an unused loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
