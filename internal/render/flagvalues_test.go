package render

import (
	"reflect"
	"testing"
)

// TestFlagValues: every form k0smotron users write a flag in is read, with
// its element index, and outer quotes go as they do for
// --kubelet-extra-args.
func TestFlagValues(t *testing.T) {
	args := []string{
		"--debug",
		"--labels=a=1,b=2",
		`--labels "c=3"`,
		"--labels", "'d=4'",
		"--labels-file=/x",
		"--labels",
	}
	want := []FlagValue{{1, "a=1,b=2"}, {2, "c=3"}, {3, "d=4"}, {6, ""}}
	if got := FlagValues(args, "--labels"); !reflect.DeepEqual(got, want) {
		t.Errorf("FlagValues = %v, want %v", got, want)
	}
}
