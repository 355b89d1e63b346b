import type { PortableAccountKeys } from '@krbfleet/kerberos'

/**
 * What a backend installs: one account's credential at one kvno, as the agent opened it from the
 * sealed envelope the account service sent. The keys are derived once per rotation by the account
 * service (AES256 and AES128, RFC 3962 with the AD salt); the password travels only for backends
 * that need it (IIS runs the application pools as the account). Every field is secret material
 * except `account`, `principal` and `kvno`: never log the object.
 */
export interface AgentCredential {
  /** `CORP\KERBAUTH` */
  account: string
  /** `KERBAUTH$@CORP.EXAMPLE.COM` */
  principal: string
  kvno: number
  keys: PortableAccountKeys['keys']
  /** The account's password, for the iis backend; absent when the backend does not need it. */
  password?: string
}

/** One kvno a backend holds for an account, and whether it is the one in use. */
export interface HeldKey {
  account: string
  kvno: number
  /** keytab: every held kvno is usable (the acceptor tries all keys); iis: the active password only. */
  active: boolean
}

export interface BackendHealth {
  ok: boolean
  /** Why not, in words an operator can act on (`applicationHost.config is not writable: EACCES`). */
  detail?: string
}

/**
 * A way of installing credentials on this web server (docs/ARCHITECTURE.md, "iis-agent"). The
 * two-phase rotation drives it: `stage` puts the new kvno beside the current one without taking
 * anything away, `activate` makes it the one in use, `retire` drops kvnos no valid ticket can still
 * name, `remove` takes the account's credential away entirely (revocation). Every call is
 * idempotent (a redelivered message repeats it) and atomic: on any failure what was installed
 * before stays installed and the call throws.
 */
export interface CredentialBackend {
  readonly kind: 'keytab' | 'iis'
  stage(credential: AgentCredential): Promise<void>
  /**
   * Optional: `stage`, then `activate` when asked, then `retire` to `keep`, as one change (one read
   * and one write of what the backend stores). Without it the receiver makes those calls in turn.
   */
  install?(credential: AgentCredential, change: { activate: boolean; keep: readonly number[] }): Promise<void>
  activate(account: string, kvno: number): Promise<void>
  /** Drops every kvno of `account` that is not in `keep`. */
  retire(account: string, keep: readonly number[]): Promise<void>
  remove(account: string): Promise<void>
  held(): Promise<HeldKey[]>
  health(): Promise<BackendHealth>
}
