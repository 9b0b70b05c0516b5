// Command ipvs-proxy replaces kube-proxy's IPVS mode: `run` syncs the node's
// IPVS, ipsets and iptables rules with the cluster's Services, and `plan`
// prints what it would set up for Services read from files.
package main

import "os"

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}
