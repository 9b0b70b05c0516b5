package nlbatch

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
)

// Run cuts ops into batches of Max and stops at the first batch whose fate
// is unknown, after its last known result.
func TestRunStopsAtUnknown(t *testing.T) {
	ops := make([]int, 2*Max+10)
	for i := range ops {
		ops[i] = i
	}
	var sizes []int
	errs := Run(context.Background(), ops, func(ops []int, errs []error) int {
		sizes = append(sizes, len(ops))
		if ops[0] == Max {
			errs[3] = errors.New("unknown")
			return 4
		}
		return len(ops)
	})
	if fmt.Sprint(sizes) != fmt.Sprint([]int{Max, Max}) || len(errs) != Max+4 || errs[Max+3] == nil {
		t.Errorf("batches %v, %d results (last %v)", sizes, len(errs), errs[len(errs)-1])
	}
}

func TestRunChecksContextBetweenBatches(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	errs := Run(ctx, make([]int, Max+1), func(ops []int, errs []error) int {
		calls++
		cancel()
		return len(ops)
	})
	if calls != 1 || len(errs) != Max {
		t.Errorf("%d batches, %d results; want 1, %d", calls, len(errs), Max)
	}
}

func TestOneByOneStopsAfterNoVerdict(t *testing.T) {
	verdict := func(err error) bool { return errors.Is(err, syscall.EEXIST) }
	call := func(op int) error {
		switch op {
		case 1:
			return syscall.EEXIST
		case 3:
			return errors.New("transport")
		}
		return nil
	}
	errs := OneByOne(context.Background(), []int{0, 1, 2, 3, 4}, call, verdict)
	if fmt.Sprint(errs) != "[<nil> file exists <nil> transport]" {
		t.Errorf("errs %v", errs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if errs := OneByOne(ctx, []int{0}, call, verdict); len(errs) != 0 {
		t.Errorf("done ctx: %v", errs)
	}
}
