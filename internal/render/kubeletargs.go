package render

import (
	"maps"
	"slices"
	"strings"
)

const kubeletExtraArgsFlag = "--kubelet-extra-args"

// kubeletFlag is one flag inside --kubelet-extra-args. A token that is not a
// flag (no leading dash, nothing to attach it to) keeps name "" and is
// passed through as raw.
type kubeletFlag struct {
	name     string
	value    string
	hasValue bool
	raw      string
}

func (f kubeletFlag) String() string {
	switch {
	case f.name == "":
		return f.raw
	case f.hasValue:
		return "--" + f.name + "=" + f.value
	default:
		return "--" + f.name
	}
}

// FlagValue is the value one element of k0s install arguments gives a flag.
type FlagValue struct {
	// Index is the element the flag is in.
	Index int
	// Value is the flag's value, outer quotes removed (see unquote).
	Value string
}

// flagValue reads flag at args[i] in any of the forms k0smotron users
// write: "flag=V", "flag V" as one element, or flag and V as two elements.
// next is the index of the last element it consumed.
func flagValue(args []string, i int, flag string) (value string, next int, ok bool) {
	a := args[i]
	switch {
	case a == flag:
		if i+1 < len(args) {
			return unquote(strings.TrimSpace(args[i+1])), i + 1, true
		}
		return "", i, true
	case strings.HasPrefix(a, flag+"="):
		return unquote(strings.TrimSpace(a[len(flag)+1:])), i, true
	case strings.HasPrefix(a, flag+" "), strings.HasPrefix(a, flag+"\t"):
		return unquote(strings.TrimSpace(a[len(flag):])), i, true
	}
	return "", i, false
}

// FlagValues lists the values install arguments give flag (such as
// "--labels"), read as cabpk0s passes them to k0s.
func FlagValues(args []string, flag string) []FlagValue {
	var out []FlagValue
	for i := 0; i < len(args); i++ {
		start := i
		if v, next, ok := flagValue(args, i, flag); ok {
			out = append(out, FlagValue{Index: start, Value: v})
			i = next
		}
	}
	return out
}

// splitKubeletExtraArgs separates the user's --kubelet-extra-args (in any
// of the forms flagValue reads) from the other install args, and parses the
// flags inside them.
func splitKubeletExtraArgs(args []string) (rest []string, flags []kubeletFlag) {
	for i := 0; i < len(args); i++ {
		v, next, ok := flagValue(args, i, kubeletExtraArgsFlag)
		if !ok {
			rest = append(rest, args[i])
			continue
		}
		i = next
		flags = append(flags, parseKubeletFlags(v)...)
	}
	return rest, flags
}

// unquote strips one pair of matching outer quotes. k0smotron pasted args
// into a shell line unquoted, so users wrote --kubelet-extra-args="a b" and
// the shell removed the quotes; cabpk0s passes args literally, so it removes
// them here to keep those manifests meaning the same.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// parseKubeletFlags splits on whitespace as k0s does, and attaches a bare
// value to the flag before it ("--node-ip 10.0.0.1"), which k0s would not.
func parseKubeletFlags(s string) []kubeletFlag {
	var flags []kubeletFlag
	for _, tok := range strings.Fields(s) {
		if !strings.HasPrefix(tok, "-") {
			if n := len(flags); n > 0 && flags[n-1].name != "" && !flags[n-1].hasValue {
				flags[n-1].value, flags[n-1].hasValue = tok, true
				continue
			}
			flags = append(flags, kubeletFlag{raw: tok})
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(tok, "-"), "=")
		if name == "" {
			flags = append(flags, kubeletFlag{raw: tok})
			continue
		}
		flags = append(flags, kubeletFlag{name: name, value: value, hasValue: hasValue})
	}
	return flags
}

// mergeKubeletArgs builds the one --kubelet-extra-args value: the
// hostname-override default, then the user's flags, then the typed
// KubeletExtraArgs (sorted). Each flag name appears once, and because the
// sources come in order of precedence (typed > user args > default) the
// last occurrence wins, which is also what the kubelet does with repeats.
func mergeKubeletArgs(nodeName string, user []kubeletFlag, typed map[string]string) []string {
	var all []kubeletFlag
	if nodeName != "" {
		all = append(all, kubeletFlag{name: "hostname-override", value: nodeName, hasValue: true})
	}
	all = append(all, user...)
	// Sorted by flag name, so "--node-ip" and "node-ip" sort alike; the raw
	// key breaks ties between such spellings deterministically.
	keys := slices.SortedFunc(maps.Keys(typed), func(a, b string) int {
		if c := strings.Compare(strings.TrimLeft(a, "-"), strings.TrimLeft(b, "-")); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		all = append(all, kubeletFlag{name: strings.TrimLeft(k, "-"), value: typed[k], hasValue: true})
	}

	last := map[string]int{}
	for i, f := range all {
		if f.name != "" {
			last[f.name] = i
		}
	}
	var out []string
	for i, f := range all {
		if f.name == "" || last[f.name] == i {
			out = append(out, f.String())
		}
	}
	return out
}
