// Command benchplot turns the results of `make bench` (hack/bench.sh) into a
// markdown table with ratios and a PNG plot (cold start and change latency
// against N, both proxies and the `ipvsadm -R` floor). It is its own module
// so that gonum.org/v1/plot stays out of the main module.
//
//	benchplot -dir _output/bench -md _output/bench/bench.md -png _output/bench/bench.png
//
// Input, per N (a folder named N under -dir): expect ("VS RS"), and per
// contender WHO in floor, kube-proxy, ipvs-proxy: WHO.env (kernel_s, full_s,
// idle_s, idle_cpu_s, rss_mb, rss_cold_mb; "timeout" where a run was cut) and
// WHO-latency.json (from benchdrive latency).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var who = []string{"floor", "kube-proxy", "ipvs-proxy"}

type kindResult struct {
	Kind     string    `json:"kind"`
	Seconds  []float64 `json:"seconds"`
	Timeouts int       `json:"timeouts"`
	P50      float64   `json:"p50"`
	P99      float64   `json:"p99"`
	// The API path alone (benchdrive's own watch beside the proxy) and
	// the rest of each change's latency (the proxy's share and the poll).
	API     []float64 `json:"api_seconds"`
	APIP50  float64   `json:"api_p50"`
	APIP99  float64   `json:"api_p99"`
	RestP50 float64   `json:"rest_p50"`
	RestP99 float64   `json:"rest_p99"`
}

type run struct {
	env     map[string]string
	latency map[string]kindResult
}

type point struct {
	n      int
	vs, rs int
	runs   map[string]run
}

func main() {
	dir := flag.String("dir", "_output/bench", "results folder (one subfolder per N)")
	md := flag.String("md", "", "write the markdown table here (default stdout)")
	png := flag.String("png", "", "write the plot here")
	flag.Parse()
	pts, err := load(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchplot:", err)
		os.Exit(1)
	}
	table := render(pts)
	if *md == "" {
		fmt.Print(table)
	} else if err := os.WriteFile(*md, []byte(table), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "benchplot:", err)
		os.Exit(1)
	}
	if *png != "" {
		if err := draw2(pts, *png); err != nil {
			fmt.Fprintln(os.Stderr, "benchplot:", err)
			os.Exit(1)
		}
	}
}

func load(dir string) ([]point, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var pts []point
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if !e.IsDir() || err != nil {
			continue
		}
		d := filepath.Join(dir, e.Name())
		p := point{n: n, runs: map[string]run{}}
		if b, err := os.ReadFile(filepath.Join(d, "expect")); err == nil {
			_, _ = fmt.Sscan(string(b), &p.vs, &p.rs)
		}
		for _, w := range who {
			env, err := readEnv(filepath.Join(d, w+".env"))
			if err != nil {
				continue
			}
			r := run{env: env, latency: map[string]kindResult{}}
			if b, err := os.ReadFile(filepath.Join(d, w+"-latency.json")); err == nil {
				var ks []kindResult
				if err := json.Unmarshal(b, &ks); err != nil {
					return nil, fmt.Errorf("%s: %w", w, err)
				}
				for _, k := range ks {
					r.latency[k.Kind] = k
				}
			}
			p.runs[w] = r
		}
		if len(p.runs) > 0 {
			pts = append(pts, p)
		}
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].n < pts[j].n })
	if len(pts) == 0 {
		return nil, fmt.Errorf("no results under %s", dir)
	}
	return pts, nil
}

func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), "="); ok {
			m[k] = v
		}
	}
	return m, s.Err()
}

// num is key of who's run at p as a number (ok false: missing or cut).
func (p point) num(w, key string) (float64, bool) {
	r, ok := p.runs[w]
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(r.env[key], 64)
	return v, err == nil
}

func (p point) cell(w, key, unit string) string {
	r, ok := p.runs[w]
	if !ok {
		return "–"
	}
	switch v := r.env[key]; v {
	case "":
		return "–"
	case "timeout":
		if l := r.env["limit_s"]; l != "" {
			return "> " + l + unit
		}
		return "> limit"
	default:
		return v + unit
	}
}

// rss is a contender's peak resident set over the run and, in brackets,
// its high-water mark when the cold start ended (rss_cold_mb).
func (p point) rss(w string) string {
	c := p.cell(w, "rss_mb", " MB")
	if cold := p.runs[w].env["rss_cold_mb"]; cold != "" && c != "–" {
		c += " (" + cold + " MB)"
	}
	return c
}

func (p point) lat(w, kind string) string {
	k, ok := p.runs[w].latency[kind]
	if !ok || len(k.Seconds) == 0 {
		return "–"
	}
	s := fmt.Sprintf("%s / %s", secs(k.P50), secs(k.P99))
	if k.Timeouts > 0 {
		s += fmt.Sprintf(" (%d timed out)", k.Timeouts)
	}
	return s
}

func secs(v float64) string {
	if v < 1 {
		return fmt.Sprintf("%.0f ms", v*1000)
	}
	return fmt.Sprintf("%.2f s", v)
}

func ratio(a, b float64, okA, okB bool) string {
	if !okA || !okB || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// idleRatio compares the idle CPU as shares of a core: the two proxies'
// idle windows may differ in length.
func (p point) idleRatio() string {
	share := func(w string) (float64, bool) {
		c, ok1 := p.num(w, "idle_cpu_s")
		s, ok2 := p.num(w, "idle_s")
		return c / max(s, 1), ok1 && ok2
	}
	a, okA := share("ipvs-proxy")
	b, okB := share("kube-proxy")
	return ratio(a, b, okA, okB)
}

func (p point) latRatio(kind string) string {
	a, okA := p.runs["ipvs-proxy"].latency[kind]
	b, okB := p.runs["kube-proxy"].latency[kind]
	if !okA || !okB || len(a.Seconds) == 0 || len(b.Seconds) == 0 {
		return "–"
	}
	return fmt.Sprintf("%s / %s", ratio(a.P50, b.P50, true, true), ratio(a.P99, b.P99, true, true))
}

func render(pts []point) string {
	var b strings.Builder
	fmt.Fprintln(&b, "| N (VS / RS) | contender | kernel-complete | fully programmed | new Service p50 / p99 | endpoint added p50 / p99 | endpoint removed p50 / p99 | idle CPU | peak RSS (by the end of the cold start) |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|---|---|---|")
	for _, p := range pts {
		for _, w := range who {
			if _, ok := p.runs[w]; !ok {
				continue
			}
			idle := "–"
			if c, ok := p.num(w, "idle_cpu_s"); ok {
				s, _ := p.num(w, "idle_s")
				idle = fmt.Sprintf("%.2f s in %.0f s (%.2f%% of a core)", c, s, 100*c/max(s, 1))
			}
			fmt.Fprintf(&b, "| %d (%d / %d) | %s | %s | %s | %s | %s | %s | %s | %s |\n", p.n, p.vs, p.rs, w,
				p.cell(w, "kernel_s", " s"), p.cell(w, "full_s", " s"),
				p.lat(w, "new-service"), p.lat(w, "endpoint-add"), p.lat(w, "endpoint-remove"),
				idle, p.rss(w))
		}
	}
	section(&b, "Ratios (ipvs-proxy / kube-proxy, ipvs-proxy / floor; below 1 is better for ipvs-proxy):",
		"N", "kernel-complete / kube-proxy", "kernel-complete / floor", "fully programmed / kube-proxy", "new Service p50 / p99",
		"endpoint added p50 / p99", "endpoint removed p50 / p99", "idle CPU / kube-proxy", "peak RSS / kube-proxy")
	for _, p := range pts {
		r := func(key, other string) string {
			a, okA := p.num("ipvs-proxy", key)
			o, okB := p.num(other, key)
			return ratio(a, o, okA, okB)
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", p.n,
			r("kernel_s", "kube-proxy"), r("kernel_s", "floor"), r("full_s", "kube-proxy"),
			p.latRatio("new-service"), p.latRatio("endpoint-add"), p.latRatio("endpoint-remove"),
			p.idleRatio(), r("rss_mb", "kube-proxy"))
	}
	renderSplit(&b, pts)
	return b.String()
}

// section starts a table after a blank line and its introduction.
func section(b *strings.Builder, intro string, cols ...string) {
	fmt.Fprintf(b, "\n%s\n\n| %s |\n|%s\n", intro, strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
}

// renderSplit adds the table of the latencies split into the API path and
// the rest, when the runs have it.
func renderSplit(b *strings.Builder, pts []point) {
	split := false
	for _, p := range pts {
		for _, w := range who {
			for _, k := range p.runs[w].latency {
				split = split || len(k.API) > 0
			}
		}
	}
	if !split {
		return
	}
	section(b, "Each change's latency split in two: the API path (write to the event at a watch of benchdrive's own, "+
		"in the proxy's namespace through the same relay; no proxy can be faster) and the rest (the proxy's watch, "+
		"sync and kernel, and the 5 ms netlink poll), p50 / p99:",
		"N", "contender", "new Service: API p50, p99 / rest p50, p99", "endpoint added: API / rest", "endpoint removed: API / rest")
	for _, p := range pts {
		for _, w := range who {
			if _, ok := p.runs[w].latency["endpoint-add"]; !ok {
				continue
			}
			cell := func(kind string) string {
				k, ok := p.runs[w].latency[kind]
				if !ok || len(k.API) == 0 {
					return "–"
				}
				return fmt.Sprintf("%s, %s / %s, %s", secs(k.APIP50), secs(k.APIP99), secs(k.RestP50), secs(k.RestP99))
			}
			fmt.Fprintf(b, "| %d | %s | %s | %s | %s |\n", p.n, w, cell("new-service"), cell("endpoint-add"), cell("endpoint-remove"))
		}
	}
}

var colors = map[string]color.Color{
	"floor":      color.RGBA{R: 120, G: 120, B: 120, A: 255},
	"kube-proxy": color.RGBA{R: 200, G: 60, B: 40, A: 255},
	"ipvs-proxy": color.RGBA{R: 30, G: 90, B: 200, A: 255},
}

// draw2 draws two panels side by side: cold start (kernel-complete, solid;
// fully programmed, dashed) and change latency p50/p99 (endpoint added)
// against N, log-log.
func draw2(pts []point, path string) error {
	cold := plot.New()
	cold.Title.Text = "Cold start (solid: kernel-complete, dashed: fully programmed)"
	cold.X.Label.Text = "Services (N)"
	cold.Y.Label.Text = "seconds"
	lat := plot.New()
	lat.Title.Text = "One change with N existing (solid: p50, dashed: p99)"
	lat.X.Label.Text = "Services (N)"
	lat.Y.Label.Text = "seconds, API write to kernel"
	for _, p := range []*plot.Plot{cold, lat} {
		p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
		p.Y.Tick.Marker = ticks125{}
		p.Legend.Top, p.Legend.Left = true, true
		p.Add(plotter.NewGrid())
	}
	lines := map[*plot.Plot]int{}
	addLine := func(p *plot.Plot, label string, xy plotter.XYs, c color.Color, dashed bool) error {
		if len(xy) == 0 {
			return nil
		}
		lines[p]++
		l, s, err := plotter.NewLinePoints(xy)
		if err != nil {
			return err
		}
		l.Color, s.Color = c, c
		l.Width = vg.Points(1.5)
		if dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			s.Shape = draw.BoxGlyph{}
		}
		p.Add(l, s)
		p.Legend.Add(label, l, s)
		return nil
	}
	for _, w := range who {
		var kern, full plotter.XYs
		for _, p := range pts {
			if v, ok := p.num(w, "kernel_s"); ok && v > 0 {
				kern = append(kern, plotter.XY{X: float64(p.n), Y: v})
			}
			if v, ok := p.num(w, "full_s"); ok && v > 0 && w != "floor" {
				full = append(full, plotter.XY{X: float64(p.n), Y: v})
			}
		}
		// Runs cut at the limit: a triangle at the limit.
		var cut plotter.XYs
		for _, p := range pts {
			l, okL := p.num(w, "limit_s")
			if r, ok := p.runs[w]; ok && okL && (r.env["kernel_s"] == "timeout" || r.env["full_s"] == "timeout") {
				cut = append(cut, plotter.XY{X: float64(p.n), Y: l})
			}
		}
		if len(cut) > 0 {
			sc, err := plotter.NewScatter(cut)
			if err != nil {
				return err
			}
			sc.Color, sc.Shape, sc.Radius = colors[w], draw.TriangleGlyph{}, vg.Points(4)
			cold.Add(sc)
			cold.Legend.Add(w+" cut at the limit (not done)", sc)
			lines[cold]++
		}
		if err := addLine(cold, w+" kernel-complete", kern, colors[w], false); err != nil {
			return err
		}
		if err := addLine(cold, w+" fully programmed", full, colors[w], true); err != nil {
			return err
		}
		if w == "floor" {
			continue
		}
		for _, kind := range []string{"endpoint-add", "new-service"} {
			var p50, p99 plotter.XYs
			for _, p := range pts {
				if k, ok := p.runs[w].latency[kind]; ok && len(k.Seconds) > 0 && k.P50 > 0 {
					p50 = append(p50, plotter.XY{X: float64(p.n), Y: k.P50})
					p99 = append(p99, plotter.XY{X: float64(p.n), Y: k.P99})
				}
			}
			c := colors[w]
			if kind == "new-service" {
				c = lighter(c)
			}
			if err := addLine(lat, w+" "+kind+" p50", p50, c, false); err != nil {
				return err
			}
			if err := addLine(lat, w+" "+kind+" p99", p99, c, true); err != nil {
				return err
			}
		}
	}
	var ns []plot.Tick
	for _, p := range pts {
		ns = append(ns, plot.Tick{Value: float64(p.n), Label: strconv.Itoa(p.n)})
	}
	for _, p := range []*plot.Plot{cold, lat} {
		p.X.Tick.Marker = plot.ConstantTicks(ns)
		p.X.Min, p.X.Max = float64(pts[0].n)/1.5, float64(pts[len(pts)-1].n)*1.5
		p.Y.Min /= 2
		p.Y.Max *= 8       // room for the legend above the lines
		if lines[p] == 0 { // a log axis needs a positive range
			p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 100, 100000, 0.01, 1000
			p.Title.Text += " (no data)"
		}
	}
	const w, h = 26 * vg.Centimeter, 13 * vg.Centimeter
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Centimeter, PadY: vg.Centimeter / 2,
		PadTop: vg.Centimeter / 4, PadBottom: vg.Centimeter / 4, PadLeft: vg.Centimeter / 4, PadRight: vg.Centimeter / 4}
	c := vgimg.New(w, h)
	dc := draw.New(c)
	canvases := plot.Align([][]*plot.Plot{{cold, lat}}, tiles, dc)
	cold.Draw(canvases[0][0])
	lat.Draw(canvases[0][1])
	return savePNG(c, path)
}

func lighter(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	f := func(v uint32) uint8 { return uint8((v>>8)/2 + 127) }
	return color.RGBA{R: f(r), G: f(g), B: f(b), A: 255}
}

func savePNG(c *vgimg.Canvas, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ticks125 marks 1, 2 and 5 of each decade (log axes with a narrow range).
type ticks125 struct{}

func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for d := math.Pow(10, math.Floor(math.Log10(lo))); d <= hi; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := d * m; v >= lo && v <= hi {
				ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return ts
}
