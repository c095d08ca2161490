//go:build race

package sandboxbinary

func init() { raceEnabled = true }
