/**
 * Checks a key against the KDC as `kinit -k` would: an AS exchange with the account's own key
 * succeeds only when the KDC holds the same key at that kvno. The key goes into a keytab of its own
 * in a private temporary folder (0700, removed after), never into the web server's; the ticket goes
 * into a memory credential cache that ends with the process.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type KeytabEntry, writeKeytabFile } from '@krbfleet/kerberos'

export type KdcCheckResult =
  | { outcome: 'accepted' }
  /** The KDC answered and refused the key (wrong password or kvno): the key will not work. */
  | { outcome: 'rejected'; detail: string }
  /** No answer from a KDC, or no kinit on this machine: nothing is known about the key. */
  | { outcome: 'unreachable'; detail: string }

/** Checks the keys of one principal and kvno. */
export type KdcCheck = (principal: string, entries: readonly KeytabEntry[]) => Promise<KdcCheckResult>

export interface KinitCheckOptions {
  /** The kinit binary (MIT krb5-user); default `kinit` on PATH. */
  kinit?: string
  /** The environment of kinit (KRB5_CONFIG for a krb5.conf of its own); default the agent's. */
  env?: NodeJS.ProcessEnv
  /** Default 10 000 ms. */
  timeoutMs?: number
}

// MIT's messages for "no KDC answered" (krb5 error table: KRB5_KDC_UNREACH, KRB5_REALM_UNKNOWN ...).
const unreachable = /Cannot contact any KDC|Cannot find KDC|Cannot resolve network address|timed out/i

export function kinitCheck(options: KinitCheckOptions = {}): KdcCheck {
  const kinit = options.kinit ?? 'kinit'
  return async (principal, entries) => {
    const dir = await mkdtemp(join(tmpdir(), 'krbfleet-kdc-check-'))
    try {
      const keytab = join(dir, 'check.keytab')
      await writeKeytabFile(keytab, entries, { mode: 0o600 })
      const env = { ...(options.env ?? process.env), KRB5CCNAME: 'MEMORY:krbfleet-kdc-check' }
      const result = await new Promise<{ code: number | string | null; stderr: string }>((resolve) => {
        execFile(
          kinit,
          ['-k', '-t', keytab, principal],
          { env, timeout: options.timeoutMs ?? 10_000 },
          (error, _stdout, stderr) => {
            const code = error ? ((error as NodeJS.ErrnoException).code ?? 1) : 0
            resolve({ code: error?.killed ? 'timeout' : code, stderr: String(stderr) })
          },
        )
      })
      if (result.code === 0) return { outcome: 'accepted' }
      const detail = result.stderr.trim().split('\n')[0] || `kinit exited with ${result.code}`
      if (result.code === 'ENOENT') return { outcome: 'unreachable', detail: `${kinit} is not installed` }
      if (result.code === 'timeout' || unreachable.test(detail)) return { outcome: 'unreachable', detail }
      return { outcome: 'rejected', detail }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
}
