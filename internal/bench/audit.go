package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// auditPolicy records every request once, when its response is complete,
// without bodies: enough to count requests by client, verb and resource.
// The API server's own loopback traffic is left out.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: None
  users: ["system:apiserver"]
- level: Metadata
`

// AuditLog is where one API server records the requests it served. The
// benchmark counts requests from the server's own record rather than from a
// client-side transport, so binaries it cannot instrument (CABPK) are
// counted the same way as cabpk0s.
type AuditLog struct {
	Path   string
	policy string
}

// NewAuditLog prepares an audit policy and log file under dir.
func NewAuditLog(dir, name string) (*AuditLog, error) {
	policy := filepath.Join(dir, name+"-audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, err
	}
	return &AuditLog{Path: filepath.Join(dir, name+"-audit.log"), policy: policy}, nil
}

// APIServerArgs are the kube-apiserver flags that enable the log. Writes
// are synchronous ("blocking") so nothing is dropped or still buffered
// when the log is read, and the file is never rotated.
func (a *AuditLog) APIServerArgs() map[string]string {
	return map[string]string{
		"audit-policy-file": a.policy,
		"audit-log-path":    a.Path,
		"audit-log-mode":    "blocking",
		"audit-log-maxsize": "0",
		"audit-log-format":  "json",
	}
}

// auditEvent is the part of an audit.k8s.io/v1 Event the counts need.
type auditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	UserAgent string `json:"userAgent"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
}

// Client picks one client's requests out of an audit log.
type Client struct {
	// Username matches the authenticated user exactly, when set.
	Username string
	// UserAgentContains matches a substring of the user agent, when set.
	UserAgentContains string
}

func (c Client) matches(e *auditEvent) bool {
	if c.Username != "" && e.User.Username != c.Username {
		return false
	}
	return c.UserAgentContains == "" || strings.Contains(e.UserAgent, c.UserAgentContains)
}

// Requests counts requests by "verb resource[/subresource]".
type Requests map[string]int

// Total is the number of requests.
func (r Requests) Total() int {
	n := 0
	for _, v := range r {
		n += v
	}
	return n
}

// ByVerb sums the counts per verb.
func (r Requests) ByVerb() map[string]int {
	out := map[string]int{}
	for key, v := range r {
		verb, _, _ := strings.Cut(key, " ")
		out[verb] += v
	}
	return out
}

// Writes counts the requests that change something.
func (r Requests) Writes() int {
	n := 0
	for verb, v := range r.ByVerb() {
		if isWrite(verb) {
			n += v
		}
	}
	return n
}

// isWrite tells whether a request of verb changes the object.
func isWrite(verb string) bool {
	switch verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	}
	return false
}

// Keys returns the request kinds in a stable order.
func (r Requests) Keys() []string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Count reads the log and counts the client's requests received in
// [from, to].
func (a *AuditLog) Count(c Client, from, to time.Time) (Requests, error) {
	counts := Requests{}
	err := a.each(c, from, to, func(e *auditEvent) {
		resource := "(non-resource)"
		if e.ObjectRef != nil {
			resource = e.ObjectRef.Resource
			if e.ObjectRef.Subresource != "" {
				resource += "/" + e.ObjectRef.Subresource
			}
		}
		counts[e.Verb+" "+resource]++
	})
	return counts, err
}

// each calls fn with every request of the client received in [from, to].
func (a *AuditLog) each(c Client, from, to time.Time, fn func(*auditEvent)) error {
	f, err := os.Open(a.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for scanner.Scan() {
		e := &auditEvent{}
		if err := json.Unmarshal(scanner.Bytes(), e); err != nil {
			return fmt.Errorf("parsing %s: %w", a.Path, err)
		}
		if e.RequestReceivedTimestamp.Before(from) || e.RequestReceivedTimestamp.After(to) || !c.matches(e) {
			continue
		}
		fn(e)
	}
	return scanner.Err()
}
