import { createHash, createPublicKey, randomBytes } from 'node:crypto'
import { exportPem, exportPublicKey, generateSignerKeyPair, importPrivateKey } from '@krbfleet/sealing'
import { type LabLayout, secretFile, secretPath, writeFileAtomic } from './layout.ts'

/** The console roles: viewer reads, operator rotates and tests, admin changes topology and accounts. */
export const labRoles = ['viewer', 'operator', 'admin'] as const
export type LabRole = (typeof labRoles)[number]

export type LabTokens = Record<LabRole, string>

/**
 * The lab's secrets, each in `.lab/secrets/` with mode 0600, created once and kept until `reset`:
 * the key-encryption key and the credential signing key (Ed25519) of the account service, and one
 * console bearer token per role. The console is given only the SHA-256 of each token, never the
 * token itself; the agents only the signing key's public half.
 */
export async function ensureSecrets(layout: LabLayout): Promise<LabTokens> {
  await secretFile(layout, 'kek', () => randomBytes(32).toString('base64'))
  await secretFile(layout, 'signer.pem', () => exportPem(generateSignerKeyPair().privateKey).trim())
  const tokens = {} as LabTokens
  for (const role of labRoles) {
    tokens[role] = await secretFile(
      layout,
      `${role}.token`,
      () => `kf_${role}_${randomBytes(24).toString('base64url')}`,
    )
  }
  const hashed = labRoles.map((role) => ({
    name: `lab-${role}`,
    role,
    sha256: createHash('sha256').update(tokens[role]).digest('hex'),
  }))
  await writeFileAtomic(
    secretPath(layout, 'console-tokens.json'),
    `${JSON.stringify(hashed, null, 2)}\n`,
    0o600,
  )
  return tokens
}

/** The public half of the lab's credential signing key: what every agent trusts (KRBFLEET_AGENT_SIGNER_KEY). */
export async function signerPublicKey(layout: LabLayout): Promise<string> {
  const pem = await secretFile(layout, 'signer.pem', () =>
    exportPem(generateSignerKeyPair().privateKey).trim(),
  )
  return exportPublicKey(createPublicKey(importPrivateKey(pem, 'ed25519')))
}
