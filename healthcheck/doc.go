// Package healthcheck serves the per-Service health checks of LoadBalancer
// Services with externalTrafficPolicy Local, as kube-proxy does: an HTTP
// server on the Service's healthCheckNodePort on every node address, which
// answers 200 when this node has a ready endpoint of the Service and 503
// otherwise, with kube-proxy's JSON body, so cloud load balancers send
// traffic only to nodes that can serve it without leaving the node.
//
// Response is the pure decision; Manager opens and closes the listeners.
package healthcheck
