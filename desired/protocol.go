package desired

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// protocolOf maps a Service or EndpointSlice port protocol to IPVS's as the
// API server validates it: "TCP", "UDP" or "SCTP", case-sensitive ("tcp" is
// refused, not read as TCP); empty is TCP, the API server's default, for
// objects read from files that never went through it.
func protocolOf(p corev1.Protocol) (ipvs.Protocol, error) {
	switch p {
	case corev1.ProtocolTCP, "":
		return ipvs.TCP, nil
	case corev1.ProtocolUDP:
		return ipvs.UDP, nil
	case corev1.ProtocolSCTP:
		return ipvs.SCTP, nil
	}
	return 0, fmt.Errorf("protocol %q is not supported (the API server accepts only \"TCP\", \"UDP\" and \"SCTP\", case-sensitive)", string(p))
}

// checkSlicePorts names, among p's bad endpoints, every port of its
// EndpointSlices that no Service port can match: an unsupported protocol,
// a number outside 1-65535 or none (the API server allows a port without a
// number, meaning "all ports", which IPVS cannot express).
func (p *endpointPicker) checkSlicePorts() {
	for _, sl := range p.slices {
		for i, sp := range sl.Ports {
			var problem string
			if sp.Protocol != nil {
				if _, err := protocolOf(*sp.Protocol); err != nil {
					problem = err.Error()
				}
			}
			switch {
			case problem != "":
			case sp.Port == nil:
				problem = "has no port number"
			case *sp.Port < 1 || *sp.Port > 65535:
				problem = fmt.Sprintf("port %d is not in 1-65535", *sp.Port)
			}
			if problem != "" {
				p.bad[fmt.Sprintf("EndpointSlice %s/%s: port %s: %s", sl.Namespace, sl.Name, slicePortName(sp, i), problem)] = struct{}{}
			}
		}
	}
}

// slicePortName is the port's name, quoted, or its index when it has none.
func slicePortName(sp discoveryv1.EndpointPort, i int) string {
	if sp.Name != nil && *sp.Name != "" {
		return strconv.Quote(*sp.Name)
	}
	return "#" + strconv.Itoa(i)
}
