package v1beta2

import "k8s.io/utils/ptr"

// The accessors below are what K0sWorkerConfig and K0sControllerConfig
// have in common, for code that handles both kinds the same way: how the
// machine installs k0s, and the bootstrap contract's status fields.

// GetInstallSpec returns the fields every k0s machine's data is made of.
func (c *K0sWorkerConfig) GetInstallSpec() *K0sInstallSpec { return &c.Spec.K0sInstallSpec }

// GetDataSecretName returns status.dataSecretName.
func (c *K0sWorkerConfig) GetDataSecretName() *string { return c.Status.DataSecretName }

// IsDataSecretCreated returns status.initialization.dataSecretCreated.
func (c *K0sWorkerConfig) IsDataSecretCreated() bool {
	return ptr.Deref(c.Status.Initialization.DataSecretCreated, false)
}

// SetDataSecret records the data Secret: its name, and that it exists.
func (c *K0sWorkerConfig) SetDataSecret(name string) {
	c.Status.DataSecretName = ptr.To(name)
	c.Status.Initialization.DataSecretCreated = ptr.To(true)
}

// SetObservedGeneration sets status.observedGeneration.
func (c *K0sWorkerConfig) SetObservedGeneration(generation int64) {
	c.Status.ObservedGeneration = generation
}

// GetInstallSpec returns the fields every k0s machine's data is made of.
func (c *K0sControllerConfig) GetInstallSpec() *K0sInstallSpec { return &c.Spec.K0sInstallSpec }

// GetDataSecretName returns status.dataSecretName.
func (c *K0sControllerConfig) GetDataSecretName() *string { return c.Status.DataSecretName }

// IsDataSecretCreated returns status.initialization.dataSecretCreated.
func (c *K0sControllerConfig) IsDataSecretCreated() bool {
	return ptr.Deref(c.Status.Initialization.DataSecretCreated, false)
}

// SetDataSecret records the data Secret: its name, and that it exists.
func (c *K0sControllerConfig) SetDataSecret(name string) {
	c.Status.DataSecretName = ptr.To(name)
	c.Status.Initialization.DataSecretCreated = ptr.To(true)
}

// SetObservedGeneration sets status.observedGeneration.
func (c *K0sControllerConfig) SetObservedGeneration(generation int64) {
	c.Status.ObservedGeneration = generation
}
