package simulation

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Reading the bootstrap script the way sh would run it, as far as the boot
// needs: the `k0s install worker` command line, with the script's own
// variables expanded, and the k0s version the script installs.

// installCommand is the k0s worker's command line the script runs.
type installCommand struct {
	TokenFile                                string
	Profile, Labels, Taints, KubeletExtraArg string
}

// k0sVersionPattern finds the version the script downloads or checks:
// v1.33.4+k0s.0 in a URL or K0S_VERSION, v1.33.4-k0s.0 as an OCI tag.
var k0sVersionPattern = regexp.MustCompile(`v[0-9]+\.[0-9]+\.[0-9]+(?:(?:\+|-|%2[bB])k0s\.[0-9]+)?`)

// scriptK0sVersion is the k0s version a bootstrap script installs.
func scriptK0sVersion(script string) (string, error) {
	v := k0sVersionPattern.FindString(script)
	if v == "" {
		return "", errors.New("the bootstrap script names no k0s version (a download URL without one?): the simulated machine cannot tell which k0s it runs")
	}
	return v, nil
}

// parseInstallCommand finds `k0s install worker` in a script and reads its
// flags.
func parseInstallCommand(script string) (installCommand, error) {
	var cmd installCommand
	args, err := installArgs(script, "worker")
	if err != nil {
		return cmd, err
	}
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(args[i], "=")
		if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") && name == "--token-file" {
			value = args[i+1]
			i++
		}
		switch name {
		case "--token-file":
			cmd.TokenFile = value
		case "--profile":
			cmd.Profile = value
		case "--labels":
			cmd.Labels = value
		case "--taints":
			cmd.Taints = value
		case "--kubelet-extra-args":
			cmd.KubeletExtraArg = value
		}
	}
	if cmd.TokenFile == "" {
		return cmd, errors.New("the bootstrap script runs `k0s install worker` without --token-file")
	}
	return cmd, nil
}

// installArgs are the arguments the script's (last) `k0s install <role>`
// line passes after the role, as sh would expand them with the script's
// own variables.
func installArgs(script, role string) ([]string, error) {
	vars := map[string]string{}
	var args []string
	found := false
	for _, line := range logicalLines(script) {
		words, err := shellWords(line, vars)
		if err != nil {
			if strings.Contains(line, "install "+role) {
				return nil, fmt.Errorf("bootstrap script: %w", err)
			}
			// Not a line the boot needs (sh would report it when run).
			continue
		}
		if len(words) == 1 {
			if name, value, ok := strings.Cut(words[0], "="); ok && isShellName(name) && strings.HasPrefix(strings.TrimSpace(line), name+"=") {
				vars[name] = value
				continue
			}
		}
		if len(words) >= 3 && words[1] == "install" && words[2] == role {
			found, args = true, words[3:]
		}
	}
	if !found {
		return nil, fmt.Errorf("the bootstrap script never runs `k0s install %s`", role)
	}
	return args, nil
}

// logicalLines joins lines continued with a trailing backslash.
func logicalLines(script string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(script, "\n") {
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\"))
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

func isShellName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r != '_' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// shellWords splits one line into words as sh does for a simple command:
// quotes, backslashes and $name/${name} expansion from vars. A comment
// ends the line.
func shellWords(line string, vars map[string]string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	expand := func(s string, i int) (string, int) {
		// s[i] == '$'
		if i+1 < len(s) && s[i+1] == '{' {
			if end := strings.IndexByte(s[i:], '}'); end > 0 {
				return vars[s[i+2:i+end]], i + end + 1
			}
		}
		j := i + 1
		for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || j > i+1 && s[j] >= '0' && s[j] <= '9') {
			j++
		}
		if j == i+1 {
			return "$", j
		}
		return vars[s[i+1:j]], j
	}
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			i++
		case c == '#' && !inWord:
			i = len(line)
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote in %q", line)
			}
			cur.WriteString(line[i+1 : i+1+end])
			inWord = true
			i += end + 2
		case c == '"':
			inWord = true
			i++
			for {
				if i >= len(line) {
					return nil, fmt.Errorf("unterminated double quote in %q", line)
				}
				if line[i] == '"' {
					i++
					break
				}
				switch {
				case line[i] == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`", line[i+1]) >= 0:
					cur.WriteByte(line[i+1])
					i += 2
				case line[i] == '$':
					var v string
					v, i = expand(line, i)
					cur.WriteString(v)
				default:
					cur.WriteByte(line[i])
					i++
				}
			}
		case c == '\\' && i+1 < len(line):
			cur.WriteByte(line[i+1])
			inWord = true
			i += 2
		case c == '$':
			var v string
			v, i = expand(line, i)
			cur.WriteString(v)
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
			i++
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
