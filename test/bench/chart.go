package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// writeChart draws the report's throughput as grouped bars, the ceiling,
// /ping, the peer and redis-benchmark INCR at each concurrency level, into a
// PNG file.
func writeChart(path string, r Report) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("GET /ping and redis-benchmark INCR, loopback, %d CPUs", r.Machine.CPUs)
	p.Y.Label.Text = "requests per second"
	p.X.Label.Text = "concurrent connections"
	p.Y.Min = 0
	p.Y.Tick.Marker = thousandsTicks{}

	n := len(r.Levels)
	ceiling, ping, peer, incr := make(plotter.Values, n), make(plotter.Values, n), make(plotter.Values, n), make(plotter.Values, n)
	names := make([]string, n)
	top := 0.0
	for i, l := range r.Levels {
		ceiling[i], ping[i], peer[i], incr[i] = l.Ceiling.Load.Rate(), l.Service.Load.Rate(), l.Peer.Load.Rate(), l.RedisBench.Rate
		names[i] = fmt.Sprint(l.Conns)
		top = max(top, ceiling[i], ping[i], peer[i], incr[i])
	}
	// Headroom above the highest bar, for the legend.
	p.Y.Max = 1.6 * max(1, top)
	width := vg.Points(18)
	series := []struct {
		name   string
		values plotter.Values
		color  color.Color
	}{
		{"ceiling (net/http, pong, no Redis)", ceiling, color.RGBA{R: 0x99, G: 0xcc, B: 0x99, A: 0xff}},
		{"GET /ping (v3 service + Redis)", ping, color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}},
		{"peer (net/http + go-redis, one INCR per ping)", peer, color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}},
		{"redis-benchmark INCR (Redis alone)", incr, color.RGBA{R: 0xbb, G: 0xbb, B: 0xbb, A: 0xff}},
	}
	for i, s := range series {
		bars, err := plotter.NewBarChart(s.values, width)
		if err != nil {
			return err
		}
		bars.Color = s.color
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(2*i-len(series)+1) * width / 2 // centred on the level
		p.Add(bars)
		p.Legend.Add(s.name, bars)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.NominalX(names...)
	return p.Save(16*vg.Centimeter, 9*vg.Centimeter, path)
}

// thousandsTicks labels the y axis 10,000 rather than 10000 or 1e+04.
type thousandsTicks struct{}

func (thousandsTicks) Ticks(minimum, maximum float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(minimum, maximum)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = thousands(ticks[i].Value)
		}
	}
	return ticks
}
