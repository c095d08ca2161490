package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestNiceTicksCoverTheRangeInRoundSteps(t *testing.T) {
	g := NewWithT(t)
	g.Expect(niceTicks(0)).To(Equal([]float64{0, 1}))
	g.Expect(niceTicks(10000)).To(Equal([]float64{0, 2000, 4000, 6000, 8000, 10000}))
	g.Expect(niceTicks(37)).To(Equal([]float64{0, 10, 20, 30, 40}))
	small := niceTicks(0.7)
	g.Expect(small).To(HaveLen(5))
	g.Expect(small[4]).To(BeNumerically("~", 0.8, 1e-12))
}

// TestPlotIsWellFormedSVG: the figure parses as XML, draws one line per
// series, scales every point into the plotting area, and escapes names.
func TestPlotIsWellFormedSVG(t *testing.T) {
	g := NewWithT(t)
	plot := Plot{Title: "ready <over> time", XLabel: "s", YLabel: "configs", Series: []Series{
		{Name: "cabpk0s", Points: [][2]float64{{0, 0}, {10, 500}, {20, 1000}}},
		{Name: "A&B", Points: [][2]float64{{0, 0}, {40, 1000}}},
	}}
	var b bytes.Buffer
	g.Expect(plot.WriteSVG(&b)).To(Succeed())
	g.Expect(b.String()).To(ContainSubstring("ready &lt;over&gt; time"))
	g.Expect(b.String()).To(ContainSubstring("A&amp;B"))

	decoder := xml.NewDecoder(&b)
	var polylines []string
	for {
		tok, err := decoder.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		g.Expect(err).NotTo(HaveOccurred())
		if el, ok := tok.(xml.StartElement); ok && el.Name.Local == "polyline" {
			for _, attr := range el.Attr {
				if attr.Name.Local == "points" {
					polylines = append(polylines, attr.Value)
				}
			}
		}
	}
	g.Expect(polylines).To(HaveLen(2))
	// The longest series ends at the right edge of the plotting area, the
	// highest point at its top.
	last := strings.Fields(polylines[1])
	g.Expect(last[len(last)-1]).To(Equal("560.0,40.0"))
}
