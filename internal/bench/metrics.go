package bench

import (
	"context"
	"strings"

	"github.com/cabpk0s/cabpk0s/internal/promscrape"
)

// scrapeMetrics reads the cabpk0s_* series of a manager's metrics endpoint,
// each by its name and labels ("name{label=value,...}"); a histogram gives
// its count as name_count.
func scrapeMetrics(ctx context.Context, addr string) (map[string]float64, error) {
	return promscrape.Scrape(ctx, addr, func(name string) bool { return strings.HasPrefix(name, "cabpk0s_") })
}
