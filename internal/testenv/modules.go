package testenv

// ModuleDir returns the directory of a Go module version in the module
// cache, downloading it through the module proxy if needed, so tests can
// read files (CRDs, manifests) of modules this one does not import, such as
// sigs.k8s.io/cluster-api/test for CAPD's CRDs.
func ModuleDir(module, version string) (string, error) {
	return moduleDir(module, version)
}
