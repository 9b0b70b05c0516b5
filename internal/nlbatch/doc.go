// Package nlbatch is what the kernel adapters (ipvs, ipset, netif) share
// to send many netlink requests at once: a raw netlink socket of their own
// (socket.go), a batch of requests numbered by sequence and the matching of
// the kernel's replies to them (batch.go, messages.go), the loop that cuts
// a run of operations into batches and the one-request-at-a-time
// reference a batch must equal (run.go), and a dump read into a reused
// buffer (dump.go). Each adapter keeps what is its own: the encoding of its
// requests' attributes, which requests it refuses before sending and how
// it words each error.
//
// A batch of up to Max requests goes out in one sendmsg; only its last
// request asks for an acknowledgement, and the kernel, which runs the
// requests in order and acknowledges every failed one anyway, answers with
// one error message per failure and the final acknowledgement, each
// carrying its request's sequence number: a batch without failures costs
// two syscalls whatever its size.
package nlbatch
