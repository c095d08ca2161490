package render

import (
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// pythonVerdicts runs script with cloud-init's Python, the inputs as JSON
// on its standard input; it prints one verdict per input, "" for success.
func pythonVerdicts(t *testing.T, script string, inputs []string) []string {
	t.Helper()
	python := cloudInitPython(t)
	in, err := json.Marshal(inputs)
	mustDo(t, err)
	cmd := exec.Command(python[0], append(python[1:], "-c", script)...)
	cmd.Stdin = strings.NewReader(string(in))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	var verdicts []string
	mustDo(t, json.Unmarshal(out, &verdicts))
	return verdicts
}

// jinjaParses asks the Jinja2 cloud-init runs (Debian's python3-jinja2,
// with cloud-init's options) whether each template parses: "" when it
// does, else Jinja's error.
func jinjaParses(t *testing.T, templates []string) []string {
	t.Helper()
	const script = `
import json, sys, jinja2
env = jinja2.Environment(trim_blocks=True, extensions=["jinja2.ext.do"])
out = []
for s in json.load(sys.stdin):
    try:
        env.parse(s + "\ntext after it")
        out.append("")
    except jinja2.TemplateSyntaxError as e:
        out.append(str(e) or "syntax error")
json.dump(out, sys.stdout)
`
	return pythonVerdicts(t, script, templates)
}

// jinjaCases are templates users write, valid and broken, each judged by
// real Jinja; CheckJinja must agree on every one.
var jinjaCases = []string{
	"plain text, no template",
	"{{ v1.instance_id }}",
	"{{ ds.meta_data.tags['Name'] | default('none') }}",
	"{{ {'a': 1}['a'] }} and {{ [1, 2][0] }}",
	"{{ '}}' }} a string holding the end",
	"{%- if v1.region == 'us-east-1' -%}east{% elif v1.region %}other{% else %}none{% endif %}",
	"{% for k in ['a', 'b'] %}{{ k }}{% else %}empty{% endfor %}",
	"{% set x = 1 %}{{ x }}",
	"{% set block %}text{% endset %}",
	"{% do [1].append(2) %}",
	"{# a comment with {{ and %} inside #}",
	"{% raw %}{{ $labels.instance }} {% if %}{% endraw %}",
	"{%- raw -%}{{ $x }}{%- endraw -%}",
	"a lone { brace and } and {x}",
	"json: {\"key\": \"value\"}",
	"{{ 1 != 2 }} {{ 2 ** 3 // 1 }} {{ 'a' ~ 'b' }}",
	"{%+ raw -%}{{ $x }}{% endraw +%}",
	"{{\u00a0v1.instance_id\u2003}} {%\u00a0if x %}y{% endif %}",
	"{{ caf\u0065\u0301 }}",
	"{% set greeting | upper %}hello{% endset %}",
	"{% set x = 'a=b' %}{% if x == 'a' %}{% endif %}",
	"{#",
	"{% raw %}",
	"{% raw +%}x{% endraw %}",
	// Broken.
	"{{ $labels.instance }} is down",
	"{{ }}",
	"{{ unclosed",
	"{% if x %}never closed",
	"{% endif %}",
	"{% if x %}{% endfor %}",
	"{% not a tag %}",
	"{# never closed",
	"{{ 'never closed }}",
	"{{ (1 }}",
	"{{ 1) }}",
	"{% raw %}never closed",
	"{% elif x %}",
	"{{ a ? b }}",
	"{{ `cmd` }}",
	"{{ a & b }}",
}

func TestCheckJinjaAgreesWithJinja(t *testing.T) {
	verdicts := jinjaParses(t, jinjaCases)
	for i, tmpl := range jinjaCases {
		err := CheckJinja(tmpl)
		if jinja := verdicts[i]; (err != nil) != (jinja != "") {
			t.Errorf("%q: CheckJinja says %v, Jinja says %q", tmpl, err, jinja)
		}
	}
}

// TestCheckJinjaNeverRefusesWhatJinjaAccepts: admission must not reject a
// template the machine would render. Random templates from Jinja's pieces,
// judged by real Jinja: whatever it accepts, CheckJinja accepts too. (The
// other way, a miss only defers the failure to the machine; the curated
// cases above hold what must be caught.)
func TestCheckJinjaNeverRefusesWhatJinjaAccepts(t *testing.T) {
	pieces := []string{"{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", " ", "\n", "x", "'s'", "\"d\"", "(", ")", "[", "]", "{", "}",
		" if x ", " endif ", " else ", " for a in b ", " endfor ", " raw ", " endraw ", " set y = 1 ", " do x ", "|", "$", "1", ".", ",", ":", "=", "!",
		"{{-", "-}}", "+%}", " elif y ", " set z ", " endset ", "'a\\'b'", " with w ", " endwith ", " macro m() ", " endmacro ", "~", "*", "**", "/"}
	r := rand.New(rand.NewPCG(1, 12)) //nolint:gosec // seeded on purpose: a failure replays
	templates := make([]string, 3000)
	for i := range templates {
		var b strings.Builder
		for range 1 + r.IntN(9) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		templates[i] = b.String()
	}
	verdicts := jinjaParses(t, templates)
	accepted := 0
	for i, tmpl := range templates {
		if verdicts[i] != "" {
			continue
		}
		accepted++
		if err := CheckJinja(tmpl); err != nil {
			t.Errorf("%q: Jinja accepts it, CheckJinja says %v", tmpl, err)
		}
	}
	NewWithT(t).Expect(accepted).To(BeNumerically(">", 300), "the generator must produce templates Jinja accepts")
}

// TestInlineTemplatesAreWhatTheMachineRenders: every curated template,
// written inline into real bootstrap data, renders under cloud-init's own
// Jinja pass exactly when CheckJinja accepts it. This holds the check to
// the text Jinja sees on the machine, after the data's YAML encoding.
func TestInlineTemplatesAreWhatTheMachineRenders(t *testing.T) {
	docs := make([]string, len(jinjaCases))
	for i, tmpl := range jinjaCases {
		out, err := Render(Input{Format: FormatCloudConfig, JoinToken: fakeToken, Files: []File{{Path: "/etc/inline", Content: tmpl}}})
		mustDo(t, err)
		docs[i] = string(out)
	}
	const script = `
import json, sys
from cloudinit.templater import render_string
out = []
for doc in json.load(sys.stdin):
    try:
        render_string(doc, {"v1": {"instance_id": "i-0cabpk0s", "region": "us-east-1"}, "ds": {"meta_data": {"tags": {}}}})
        out.append("")
    except Exception as e:
        out.append(type(e).__name__ + ": " + str(e))
json.dump(out, sys.stdout)
`
	verdicts := pythonVerdicts(t, script, docs)
	for i, tmpl := range jinjaCases {
		if err := CheckJinja(tmpl); (err != nil) != (verdicts[i] != "") {
			t.Errorf("%q inline: CheckJinja says %v, cloud-init's Jinja pass says %q", tmpl, err, verdicts[i])
		}
	}
}
