package main

// Who is who: one client cert per user, and the kubeconfig files for it.
// admin and ipvs-proxy also get a *-guest.kubeconfig for the guest VM.

import (
	"net"
	"path/filepath"
	"strconv"
)

type user struct {
	file   string // kubeconfig base name, without .kubeconfig
	name   string
	groups []string
	guest  bool // also write <file>-guest.kubeconfig
}

var users = []user{
	{file: "admin", name: adminUser, groups: []string{adminGroup}, guest: true},
	{file: "ipvs-proxy", name: ipvsProxyUser, guest: true},
	// --use-service-account-credentials=false: the controller manager runs
	// every controller under its own identity, so it gets cluster-admin.
	{file: "controller-manager", name: kcmUser, groups: []string{adminGroup}},
	{file: "scheduler", name: schedulerUser},
}

// writeKubeconfigs writes <dir>/<file>[-guest].kubeconfig for every user and
// returns their paths by key ("admin", "admin-guest", ...) and the admin cert.
func writeKubeconfigs(dir string, o options, p *pki) (map[string]string, *keyPair, error) {
	paths := map[string]string{}
	var admin *keyPair
	port := strconv.Itoa(o.port)
	for _, u := range users {
		cert, err := p.clientCert(u.name, u.groups...)
		if err != nil {
			return nil, nil, err
		}
		if u.file == "admin" {
			admin = cert
		}
		kc := kubeconfig{Server: "https://" + net.JoinHostPort("127.0.0.1", port), User: u.name, CAPEM: p.CA.CertPEM, Client: cert}
		paths[u.file] = filepath.Join(dir, u.file+".kubeconfig")
		if err := kc.write(paths[u.file]); err != nil {
			return nil, nil, err
		}
		if u.guest {
			kc.Server = "https://" + net.JoinHostPort(o.guestHost, port)
			kc.TLSServerName = o.tlsServerName
			key := u.file + "-guest"
			paths[key] = filepath.Join(dir, key+".kubeconfig")
			if err := kc.write(paths[key]); err != nil {
				return nil, nil, err
			}
		}
	}
	return paths, admin, nil
}
