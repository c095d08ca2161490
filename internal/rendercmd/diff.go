package rendercmd

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/cabpk0s/cabpk0s/internal/render"
)

// diffContext is how many unchanged lines are shown around a change.
const diffContext = 2

// diffData tells what changes on a machine between two configs' data: the
// files added, removed or changed (mode, owner, lines), and the commands.
func diffData(a, b *rendered) ([]byte, error) {
	da, err := render.Decode(a.data, a.format)
	if err != nil {
		return nil, fmt.Errorf("reading %s's data back: %w", a.source, err)
	}
	db, err := render.Decode(b.data, b.format)
	if err != nil {
		return nil, fmt.Errorf("reading %s's data back: %w", b.source, err)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "--- %s (%s %s, %s)\n+++ %s (%s %s, %s)\n", a.source, a.kind, a.config.Name, a.format, b.source, b.kind, b.config.Name, b.format)
	changed := false
	paths := da.Paths()
	for _, p := range db.Paths() {
		if !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	for _, p := range slices.Compact(paths) {
		fa, inA := da.File(p)
		fb, inB := db.File(p)
		switch {
		case !inB:
			fmt.Fprintf(&out, "- %s (removed, %d bytes)\n", p, len(fa.Content))
		case !inA:
			fmt.Fprintf(&out, "+ %s (added, %04o %s, %d bytes)\n", p, fb.Mode, fb.Owner, len(fb.Content))
			writeLines(&out, "+", string(fb.Content))
		case fa.Mode != fb.Mode || fa.Owner != fb.Owner || !bytes.Equal(fa.Content, fb.Content):
			fmt.Fprintf(&out, "~ %s", p)
			if fa.Mode != fb.Mode {
				fmt.Fprintf(&out, " (mode %04o -> %04o)", fa.Mode, fb.Mode)
			}
			if fa.Owner != fb.Owner {
				fmt.Fprintf(&out, " (owner %s -> %s)", fa.Owner, fb.Owner)
			}
			out.WriteString("\n")
			writeLineDiff(&out, splitLines(string(fa.Content)), splitLines(string(fb.Content)))
		default:
			continue
		}
		changed = true
	}
	ca, cb := joinCommands(da.Commands), joinCommands(db.Commands)
	if !slices.Equal(ca, cb) {
		out.WriteString("~ commands\n")
		writeLineDiff(&out, ca, cb)
		changed = true
	}
	if !changed {
		out.WriteString("no difference on the machine\n")
	}
	return out.Bytes(), nil
}

func joinCommands(cmds [][]string) []string {
	lines := make([]string, len(cmds))
	for i, c := range cmds {
		lines[i] = strings.Join(c, " ")
	}
	return lines
}

func splitLines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func writeLines(out *bytes.Buffer, prefix, s string) {
	for _, l := range splitLines(s) {
		out.WriteString("  " + prefix + l + "\n")
	}
}

// writeLineDiff prints a line diff (longest common subsequence) with a few
// lines of context around each change.
func writeLineDiff(out *bytes.Buffer, a, b []string) {
	// lcs[i][j] is the length of the longest common subsequence of a[i:]
	// and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var lines []line
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			lines = append(lines, line{' ', a[i]})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			lines = append(lines, line{'-', a[i]})
			i++
		default:
			lines = append(lines, line{'+', b[j]})
			j++
		}
	}
	near := func(k int) bool {
		for d := -diffContext; d <= diffContext; d++ {
			if k+d >= 0 && k+d < len(lines) && lines[k+d].op != ' ' {
				return true
			}
		}
		return false
	}
	skipped := false
	for k, l := range lines {
		if !near(k) {
			skipped = true
			continue
		}
		if skipped {
			out.WriteString("  ...\n")
			skipped = false
		}
		out.WriteString("  " + string(l.op) + l.text + "\n")
	}
}
