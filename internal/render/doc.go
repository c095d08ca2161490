// Package render turns a resolved bootstrap description into bootstrap data:
// cloud-config (optionally merged with custom cloud-config as MIME
// multi-part) or Ignition. It is pure: no Kubernetes client, no I/O, the same
// input always gives the same bytes.
//
// # One script
//
// Every format carries the same POSIX sh script ([Script], written to
// [ScriptPath]) and runs it once: a single cloud-init runcmd entry, or the
// oneshot systemd unit [UnitName] under Ignition. The script runs with
// set -eu, single-quotes every value it interpolates, and touches
// [SentinelPath] as its very last step, so the Cluster API sentinel exists
// only when the pre-commands, the download, `k0s install worker`, the start
// and the post-commands all succeeded. It can be re-run on a half-bootstrapped
// machine: the k0s binary is replaced by an atomic rename (or not downloaded
// again when the requested version is already there), and the service is
// installed with --force so a second run replaces the first run's service
// instead of failing on it.
//
// # Downloads
//
// Without DownloadURL the script runs https://get.k0s.sh (fetched first, as
// POSIX sh has no pipefail). An http(s) URL is downloaded next to the binary,
// checked with sha256sum -c when DownloadSHA256 is set, and renamed into
// place. oci://host/repo@sha256:... fetches that blob with `oras blob fetch`
// (the digest names the binary itself); oci://host/repo:tag runs
// `oras pull` and expects an artifact of exactly one file. oras must already
// be on the machine (a pre-command can install it); HOME defaults to /root
// for it, as cloud-init leaves HOME unset.
//
// # Jinja
//
// Cloud-config starts with "## template: jinja", as k0smotron's does, so
// cloud-init renders the document with instance data before parsing it.
// What the user wrote stays visible to Jinja: file contents, file paths, and
// the pre- and post-commands (written as the plain files [PreCommandsPath]
// and [PostCommandsPath], which the script runs with sh -e). What cabpk0s
// generates is never changed by Jinja: the script is written base64-encoded
// and the join token is base64 already. As a consequence, args, labels,
// taints, kubelet extra args and the node name, which live inside the
// script, are not Jinja-rendered; template them in a pre-command instead.
// Content that must keep a literal "{{" needs {% raw %} ... {% endraw %}, as
// with k0smotron.
//
// Custom cloud-config becomes the second part of a MIME multi-part message
// whose parts carry the Merge-Type [MergeType], so cloud-init appends its
// runcmd and write_files to ours instead of replacing them.
//
// # Ignition
//
// Ignition output uses spec [IgnitionSpecVersion] unless the additional
// config needs a newer one, carries the same files and script, and merges
// the additional config (Ignition JSON, or Butane YAML as in k0smotron)
// into the generated config at render time.
package render
