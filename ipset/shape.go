package ipset

import "fmt"

// entryShape checks that e has exactly the parts s's type stores: an IP and a
// protocol:port for every type but hash:ip, plus IP2 for hash:ip,port,ip and
// Net for hash:ip,port,net.
func entryShape(s Set, e Entry) error {
	ipOnly := e.Protocol == "" && e.Port == 0
	switch {
	case s.Type == HashIP && (!ipOnly || e.IP2.IsValid() || e.Net.IsValid()):
		return fmt.Errorf("entry %s: %s takes only an IP", e, s.Type)
	case s.Type != HashIP && ipOnly:
		return fmt.Errorf("entry %s: %s needs a protocol and port", e, s.Type)
	case s.Type != HashIPPortIP && e.IP2.IsValid():
		return fmt.Errorf("entry %s: %s takes no second IP", e, s.Type)
	case s.Type == HashIPPortIP && !e.IP2.IsValid():
		return fmt.Errorf("entry %s: %s needs a second IP", e, s.Type)
	case s.Type != HashIPPortNet && e.Net.IsValid():
		return fmt.Errorf("entry %s: %s takes no network", e, s.Type)
	case s.Type == HashIPPortNet && !e.Net.IsValid():
		return fmt.Errorf("entry %s: %s needs a network", e, s.Type)
	}
	return nil
}

// validateNet checks the network of a hash:ip,port,net member the way the
// kernel stores it: masked, of IP's family, with a prefix length of 1 or
// more (the kernel refuses /0 in hash:*,net sets).
func validateNet(e Entry) error {
	n := e.Net
	switch {
	case !n.IsValid():
		return nil
	case n.Addr().Is4() != e.IP.Is4() || n.Addr().Is4In6():
		return fmt.Errorf("entry %s: IP and network of different families", e)
	case n.Addr().Zone() != "":
		return fmt.Errorf("entry %s: network has a zone", e)
	case n.Bits() < 1:
		return fmt.Errorf("entry %s: network /0 is not accepted by hash:ip,port,net (use two halves)", e)
	case n.Masked() != n:
		return fmt.Errorf("entry %s: network %s is not masked (the kernel would store %s)", e, n, n.Masked())
	}
	return nil
}
