package controllers

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"strconv"
)

// healthMux serves kube-proxy's /healthz (readiness: Status.Ready) and /livez
// (Status.Live) with kube-proxy's JSON body, 200 or 503.
func healthMux(st *Status) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		h := st.Ready()
		st.m.Healthz(writeHealth(w, h))
	})
	mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) {
		h := st.Live()
		st.m.Livez(writeHealth(w, h))
	})
	return mux
}

// writeHealth writes h as kube-proxy does and returns the status code. Like
// kube-proxy, a healthy answer reports the current time as lastUpdated.
func writeHealth(w http.ResponseWriter, h Health) string {
	code := http.StatusOK
	if !h.Healthy {
		code = http.StatusServiceUnavailable
	} else {
		h.LastUpdated = h.CurrentTime
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	b, _ := json.Marshal(h)
	_, _ = w.Write(b)
	return strconv.Itoa(code)
}

// metricsMux serves /metrics (Prometheus) and, like kube-proxy's metrics
// server, /proxyMode and a plain /healthz.
func metricsMux(st *Status, profiling bool) *http.ServeMux {
	mux := http.NewServeMux()
	if profiling { // kube-proxy's enableProfiling: pprof on the metrics server
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("/metrics", st.m.Handler())
	mux.HandleFunc("/proxyMode", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ipvs"))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	return mux
}
