package testenv

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Who deleted a workload cluster's bootstrap tokens, from the API server's
// own record: the tests tell the tokens cabpk0s revoked from those the
// controller manager's tokencleaner collected once they expired.

// tokenAuditPolicy records creations and deletions of Secrets in
// kube-system (where bootstrap tokens live) and nothing else, so the log
// stays small. At the Metadata level no Secret's content is written.
const tokenAuditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: Metadata
  verbs: ["create", "delete"]
  resources:
  - group: ""
    resources: ["secrets"]
  namespaces: ["kube-system"]
- level: None
`

// The identities the harness gives who may delete tokens.
const (
	// ControllerManagerUser is kube-controller-manager's identity.
	ControllerManagerUser = "system:kube-controller-manager"
	// ClusterAdminUser is the identity of the <cluster>-kubeconfig Secret
	// (what cabpk0s and Cluster API reach the workload cluster as).
	ClusterAdminUser = "kubernetes-admin"
)

// TokenDeletion is one bootstrap-token Secret deleted.
type TokenDeletion = TokenEvent

// TokenEvent is one bootstrap-token Secret created or deleted.
type TokenEvent struct {
	// Verb is create or delete.
	Verb string
	// ID is the token ID (the Secret is bootstrap-token-<ID>).
	ID string
	// By is who created or deleted it.
	By string
	At time.Time
}

// ByTokenCleaner is true when the controller manager (its tokencleaner:
// nothing else it runs deletes tokens) deleted the token.
func (d TokenEvent) ByTokenCleaner() bool { return d.By == ControllerManagerUser }

// ByCabpk0s is true when the token was created or deleted with the
// cluster's kubeconfig, which is how cabpk0s mints and revokes.
func (d TokenEvent) ByCabpk0s() bool { return d.By == ClusterAdminUser }

func writeTokenAuditPolicy(dir string) (map[string]string, string, error) {
	policy := filepath.Join(dir, "token-audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(tokenAuditPolicy), 0o600); err != nil {
		return nil, "", err
	}
	log := filepath.Join(dir, "token-audit.log")
	return map[string]string{
		"audit-policy-file": policy,
		"audit-log-path":    log,
		"audit-log-mode":    "blocking",
		"audit-log-maxsize": "0",
		"audit-log-format":  "json",
	}, log, nil
}

// TokenDeletions lists the bootstrap tokens deleted so far, oldest first.
func (w *Workload) TokenDeletions() ([]TokenDeletion, error) { return w.tokenEvents("delete") }

// TokenCreations lists the bootstrap tokens created so far, oldest first:
// a token deleted and created again under its ID appears twice.
func (w *Workload) TokenCreations() ([]TokenEvent, error) { return w.tokenEvents("create") }

func (w *Workload) tokenEvents(verb string) ([]TokenEvent, error) {
	f, err := os.Open(w.tokenAuditLog)
	if err != nil {
		return nil, fmt.Errorf("reading the workload audit log: %w", err)
	}
	defer f.Close()
	var out []TokenEvent
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for scanner.Scan() {
		var e struct {
			Verb string `json:"verb"`
			User struct {
				Username string `json:"username"`
			} `json:"user"`
			ObjectRef *struct {
				Name string `json:"name"`
			} `json:"objectRef"`
			ResponseStatus *struct {
				Code int `json:"code"`
			} `json:"responseStatus"`
			StageTimestamp time.Time `json:"stageTimestamp"`
		}
		if err := json.Unmarshal(scanner.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("workload audit log: %w", err)
		}
		if e.Verb != verb || e.ObjectRef == nil || e.ResponseStatus == nil || e.ResponseStatus.Code >= 300 {
			continue
		}
		id, ok := strings.CutPrefix(e.ObjectRef.Name, "bootstrap-token-")
		if !ok {
			continue
		}
		out = append(out, TokenEvent{Verb: e.Verb, ID: id, By: e.User.Username, At: e.StageTimestamp})
	}
	return out, scanner.Err()
}

// TokenDeletion returns who deleted the token with id, if anyone did.
func (w *Workload) TokenDeletion(id string) (TokenDeletion, bool, error) {
	all, err := w.TokenDeletions()
	if err != nil {
		return TokenDeletion{}, false, err
	}
	for _, d := range all {
		if d.ID == id {
			return d, true, nil
		}
	}
	return TokenDeletion{}, false, nil
}
