// The keytab backend (README, "keytab backend"); re-exported by src/index.ts.
export { type KdcCheck, type KdcCheckResult, type KinitCheckOptions, kinitCheck } from './kdc-check.ts'
export { type KeytabBackendOptions, keytabBackend, keytabStatePath } from './keytab-backend.ts'
