package main

// etcd: one member on loopback ports, fsync off (throw-away test data).

import (
	"context"
	"fmt"
	"strconv"
)

type etcdConfig struct {
	bin        string
	dataDir    string
	clientPort int
	peerPort   int
}

func (e etcdConfig) clientURL() string { return "http://127.0.0.1:" + strconv.Itoa(e.clientPort) }

func (e etcdConfig) args() []string {
	peer := fmt.Sprintf("http://127.0.0.1:%d", e.peerPort)
	return []string{
		"--name=default",
		"--data-dir=" + e.dataDir,
		"--listen-client-urls=" + e.clientURL(),
		"--advertise-client-urls=" + e.clientURL(),
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=default=" + peer,
		"--unsafe-no-fsync=true", // test data only
		"--log-level=warn",
	}
}

func startEtcd(ctx context.Context, e etcdConfig, logDir string) (*child, error) {
	c, err := startChild("etcd", e.bin, e.args(), logDir)
	if err != nil {
		return nil, err
	}
	return c, waitHTTP(ctx, c, plainClient(), e.clientURL()+"/health", etcdStartTimeout)
}
