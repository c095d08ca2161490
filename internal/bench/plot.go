package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Series is one line of a plot.
type Series struct {
	Name   string
	Points [][2]float64
}

// Plot is a line chart, written as SVG with nothing but the standard
// library, so the benchmark draws its own figures.
type Plot struct {
	Title, XLabel, YLabel string
	Series                []Series
}

// The plot's size and margins, in SVG user units.
const (
	plotWidth, plotHeight = 720, 400
	marginLeft, marginTop = 70, 40
	marginRight           = 160
	marginBottom          = 50
)

// seriesColors are distinguishable on white and for common colour
// blindness (Okabe and Ito's palette).
var seriesColors = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"}

// WriteSVG draws the plot.
func (p Plot) WriteSVG(w io.Writer) error {
	maxX, maxY := 0.0, 0.0
	for _, s := range p.Series {
		for _, pt := range s.Points {
			maxX, maxY = math.Max(maxX, pt[0]), math.Max(maxY, pt[1])
		}
	}
	xTicks, yTicks := niceTicks(maxX), niceTicks(maxY)
	maxX, maxY = xTicks[len(xTicks)-1], yTicks[len(yTicks)-1]
	innerW := float64(plotWidth - marginLeft - marginRight)
	innerH := float64(plotHeight - marginTop - marginBottom)
	x := func(v float64) float64 { return marginLeft + v/maxX*innerW }
	y := func(v float64) float64 { return marginTop + innerH - v/maxY*innerH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		plotWidth, plotHeight, plotWidth, plotHeight)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", marginLeft, escapeXML(p.Title))
	for _, t := range xTicks {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x(t), marginTop, x(t), marginTop+innerH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x(t), marginTop+innerH+18, tickLabel(t))
	}
	for _, t := range yTicks {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", marginLeft, y(t), marginLeft+innerW, y(t))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", marginLeft-6, y(t)+4, tickLabel(t))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", marginLeft, marginTop, innerW, innerH)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", marginLeft+innerW/2, plotHeight-10, escapeXML(p.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", marginTop+innerH/2, escapeXML(p.YLabel))
	for i, s := range p.Series {
		color := seriesColors[i%len(seriesColors)]
		points := make([]string, 0, len(s.Points))
		for _, pt := range s.Points {
			points = append(points, fmt.Sprintf("%.1f,%.1f", x(pt[0]), y(pt[1])))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(points, " "))
		if len(s.Points) == 1 {
			fmt.Fprintf(&b, `<circle cx="%s" r="3" fill="%s"/>`+"\n", strings.Replace(points[0], ",", `" cy="`, 1), color)
		}
		ly := marginTop + 10 + 20*i
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", marginLeft+innerW+12, ly, marginLeft+innerW+32, ly, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", marginLeft+innerW+38, ly+4, escapeXML(s.Name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceTicks returns 0 and round steps up to at least top.
func niceTicks(top float64) []float64 {
	if top <= 0 {
		return []float64{0, 1}
	}
	raw := top / 5
	magnitude := math.Pow(10, math.Floor(math.Log10(raw)))
	step := magnitude
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*magnitude >= raw {
			step = m * magnitude
			break
		}
	}
	var ticks []float64
	for i := 0; ; i++ {
		t := float64(i) * step
		ticks = append(ticks, t)
		if t >= top {
			return ticks
		}
	}
}

func tickLabel(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func escapeXML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
