package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// Work in other network namespaces. A thread switched into a pod's
// namespace must never run anything else: Go schedules any goroutine on any
// unlocked thread, and /proc/net, new sockets and exec'd commands follow the
// thread. So the namespace work runs on a goroutine of its own, locked to its
// thread and never unlocked: when the goroutine returns, Go ends the thread
// with it. The calling goroutine's thread is never switched, not even
// "temporarily" (a failed switch back would leave it, perhaps the main
// thread, in the pod's namespace).

// inNetns runs f in network namespace name ("" = the caller's, on the
// caller's goroutine) and returns its error: sockets f opens stay in that
// namespace after f returns. f runs on another goroutine, so it must not
// call t.Fatal and friends.
func inNetns(name string, f func() error) error {
	if name == "" {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		h, err := netns.GetFromName(name)
		if err != nil {
			errc <- fmt.Errorf("netns %s: %w", name, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// rawGet is one HTTP/1.0 GET / on a new connection from the calling
// goroutine's thread (so from its network namespace, unlike http.Client,
// which dials on other goroutines); the connection is closed with a RST, so
// IPVS moves its entry to CLOSE (10 s) instead of TIME_WAIT (2 min). The
// generous timeout rides out stalls of a software-emulated VM (the whole
// guest has stood still for 12 s on the loaded machine, and a 10 s dial
// timeout then failed one request of the churn test while no change touched
// its virtual server).
func rawGet(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetLinger(0)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\nHost: e2e\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// traffic sends requests, each on a new connection (rawGet), to addr from
// network namespace ns ("" = the node) until end, and counts answers by
// body and failures (errors or an answer not in want).
type traffic struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	counts     map[string]int // answers by body
	errs       []string
	stop       chan struct{}
	done       chan struct{}
}

// startTraffic starts the request loop: one request every 20 ms.
func startTraffic(t *testing.T, ns, addr string, want ...string) *traffic {
	t.Helper()
	tr := &traffic{counts: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		err := inNetns(ns, func() error {
			for {
				select {
				case <-tr.stop:
					return nil
				default:
				}
				body, err := rawGet(addr)
				switch {
				case err != nil:
					tr.fail(fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), addr, err))
				case !contains(want, body):
					tr.fail(fmt.Sprintf("%s %s: answer %q", time.Now().Format("15:04:05.000"), addr, body))
				default:
					tr.ok.Add(1)
					tr.mu.Lock()
					tr.counts[body]++
					tr.mu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
		if err != nil {
			tr.fail(err.Error())
		}
	}()
	return tr
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (tr *traffic) fail(msg string) {
	tr.failed.Add(1)
	tr.mu.Lock()
	if len(tr.errs) < 20 {
		tr.errs = append(tr.errs, msg)
	}
	tr.mu.Unlock()
}

// end stops the loop and returns (ok, failed, the first failures).
func (tr *traffic) end() (int64, int64, []string) {
	close(tr.stop)
	<-tr.done
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.ok.Load(), tr.failed.Load(), tr.errs
}

// answers returns the answers by body so far (after end: all of them).
func (tr *traffic) answers() map[string]int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make(map[string]int, len(tr.counts))
	for k, v := range tr.counts {
		out[k] = v
	}
	return out
}
