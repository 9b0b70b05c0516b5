package ipvs

import (
	"io"
	"maps"
	"slices"

	"github.com/go-logr/logr"
	"github.com/sirupsen/logrus"
)

// RouteLibraryLogs sends what github.com/moby/ipvs logs (through logrus's
// standard logger, e.g. "Running modprobe ip_vs failed" when the kernel has
// no IPVS) to log instead of stderr, so `--log-format json` holds only JSON.
// Errors are logged as errors, warnings at V(0), info at V(1), debug at V(4).
// It changes logrus's process-wide standard logger: call it once, from main.
func RouteLibraryLogs(log logr.Logger) {
	std := logrus.StandardLogger()
	std.SetOutput(io.Discard)
	std.SetLevel(logrus.DebugLevel) // logr's verbosity filters
	std.ReplaceHooks(logrus.LevelHooks{})
	std.AddHook(logrHook{log.WithValues("library", "moby/ipvs")})
}

type logrHook struct{ log logr.Logger }

func (logrHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h logrHook) Fire(e *logrus.Entry) error {
	kv := make([]any, 0, 2*len(e.Data))
	for _, k := range slices.Sorted(maps.Keys(e.Data)) {
		if k == logrus.ErrorKey {
			continue
		}
		kv = append(kv, k, e.Data[k])
	}
	err, _ := e.Data[logrus.ErrorKey].(error)
	switch {
	case e.Level <= logrus.ErrorLevel:
		h.log.Error(err, e.Message, kv...)
	case err != nil:
		h.log.V(levelOf(e.Level)).Info(e.Message, append(kv, "err", err.Error())...)
	default:
		h.log.V(levelOf(e.Level)).Info(e.Message, kv...)
	}
	return nil
}

func levelOf(l logrus.Level) int {
	switch l {
	case logrus.WarnLevel:
		return 0
	case logrus.InfoLevel:
		return 1
	}
	return 4
}
