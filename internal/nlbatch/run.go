package nlbatch

import "context"

// Run runs ops in order, Max per call of send, which sends its ops (fills
// its errs, one per op) and returns how many of its results are known:
// all, or up to and including the first op whose fate is unknown (which
// carries the transport error). The errors returned are shorter than ops
// when Run stopped early: ctx was done before the rest was sent, or a
// batch's fate was unknown. This is the contract of the adapters' Batch.
func Run[Op any](ctx context.Context, ops []Op, send func(ops []Op, errs []error) int) []error {
	errs := make([]error, len(ops))
	for start := 0; start < len(ops); start += Max {
		if ctx.Err() != nil {
			return errs[:start]
		}
		end := min(start+Max, len(ops))
		if n := send(ops[start:end], errs[start:end]); n < end-start {
			return errs[:start+n]
		}
	}
	return errs
}

// OneByOne runs ops through call one request each, as Batch promises to:
// what a Batch must equal. It checks ctx between requests and stops after
// an error that is no verdict on the request (verdict false: a failure to
// ask, whose outcome is unknown), as Batch does. Which errors are verdicts
// is the adapter's to say.
func OneByOne[Op any](ctx context.Context, ops []Op, call func(Op) error, verdict func(error) bool) []error {
	errs := make([]error, 0, len(ops))
	for _, op := range ops {
		if ctx.Err() != nil {
			break
		}
		err := call(op)
		errs = append(errs, err)
		if err != nil && !verdict(err) {
			break
		}
	}
	return errs
}
