//go:build linux

package netif

import (
	"errors"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkIndexes remembers the index of each link an address was added to or
// deleted from. Looking a link up by name (RTM_GETLINK: the kernel fills in
// every attribute and statistic, the library parses them) cost as much as
// the address change itself; a cold sync binds one address per ClusterIP.
type linkIndexes struct {
	mu  sync.Mutex
	idx map[string]int
}

func (c *linkIndexes) get(name string) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.idx[name]
	return i, ok
}

func (c *linkIndexes) set(name string, i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idx == nil {
		c.idx = map[string]int{}
	}
	c.idx[name] = i
}

func (c *linkIndexes) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.idx, name)
}

// withLink runs do with the link named name: by its remembered index, else
// looked up. A link deleted since (and made again, with a new index) fails
// with ENODEV: then it is looked up again and do runs once more. The kernel
// hands out indexes in increasing order, so a remembered index does not come
// to name another link. lookup tells that err is the lookup's (the callers
// word it apart, as the batched requests do).
func (k *Kernel) withLink(name string, do func(netlink.Link) error) (lookup bool, err error) {
	if i, ok := k.links.get(name); ok {
		err := do(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: i, Name: name}})
		if !errors.Is(err, unix.ENODEV) {
			return false, err
		}
		k.links.forget(name)
	}
	l, err := k.link(name)
	if err != nil {
		return true, err
	}
	k.links.set(name, l.Attrs().Index)
	return false, do(l)
}
