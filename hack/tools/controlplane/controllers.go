package main

// Optional kube-controller-manager and kube-scheduler (--with-controllers),
// so Deployments get ReplicaSets/Pods, Pods get scheduled, and Services get
// EndpointSlices from the real controllers.

import (
	"strings"
)

// defaultControllers are the kube-controller-manager controllers a Service
// data-path test needs: workload controllers, EndpointSlice/Endpoints,
// service accounts (the ServiceAccount admission plugin needs "default"),
// namespace deletion and garbage collection.
var defaultControllers = []string{
	"deployment-controller",
	"replicaset-controller",
	"endpointslice-controller",
	"endpointslice-mirroring-controller",
	"endpoints-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
	"namespace-controller",
	"garbage-collector-controller",
}

func controllerManagerArgs(kubeconfig string, p *pki, controllers, serviceCIDR string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=0", // no serving: avoids port clashes between runs
		"--controllers=" + controllers,
		"--use-service-account-credentials=false",
		"--service-account-private-key-file=" + p.SAKeyFile,
		"--root-ca-file=" + p.CAFile,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--leader-elect=false",
		"--v=1",
	}
}

func schedulerArgs(kubeconfig string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--leader-elect=false",
		"--v=1",
	}
}

func joinControllers(list []string) string { return strings.Join(list, ",") }
