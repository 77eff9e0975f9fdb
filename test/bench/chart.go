package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// writeChart draws the report's throughput as grouped bars, /ping beside
// redis-benchmark INCR at each concurrency level, into a PNG file.
func writeChart(path string, r Report) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("GET /ping vs redis-benchmark INCR, loopback, %d CPUs", r.Machine.CPUs)
	p.Y.Label.Text = "requests per second"
	p.X.Label.Text = "concurrent connections"
	p.Y.Min = 0
	p.Y.Tick.Marker = thousandsTicks{}

	ping, incr := make(plotter.Values, len(r.Levels)), make(plotter.Values, len(r.Levels))
	names := make([]string, len(r.Levels))
	top := 0.0
	for i, l := range r.Levels {
		ping[i], incr[i] = l.Load.Rate(), l.RedisBench.Rate
		names[i] = fmt.Sprint(l.Load.Conns)
		top = max(top, ping[i], incr[i])
	}
	// Headroom above the highest bar, for the legend.
	p.Y.Max = 1.3 * max(1, top)
	width := vg.Points(28)
	for i, series := range []struct {
		name   string
		values plotter.Values
		color  color.Color
	}{
		{"GET /ping (v3 service + Redis)", ping, color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}},
		{"redis-benchmark INCR (Redis alone)", incr, color.RGBA{R: 0xbb, G: 0xbb, B: 0xbb, A: 0xff}},
	} {
		bars, err := plotter.NewBarChart(series.values, width)
		if err != nil {
			return err
		}
		bars.Color = series.color
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(2*i-1) * width / 2
		p.Add(bars)
		p.Legend.Add(series.name, bars)
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
