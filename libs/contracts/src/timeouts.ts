import Type from 'typebox'

/**
 * The waits of krbfleet, derived from one setting (KRBFLEET_LDAP_TIMEOUT_MS) so that every caller
 * waits longer than the service it calls: an operator never sees a bare timeout where the service
 * was about to answer what happened.
 *
 * - one LDAP operation (and one connect) waits at most `ldapTimeoutMs`;
 * - a service that talks to AD answers within {@link directoryAnswerWithinMs}: the operation that
 *   stalled plus a reconnect (every earlier operation answered, or it would have stalled instead);
 * - the console waits {@link directoryRpcTimeoutMs} for such a service: that bound plus NATS and KV;
 * - a pending secret older than {@link pendingSettleAfterMs} has no writer left waiting on it, so
 *   the account service's sweep may settle it from AD's kvno.
 */
export const LDAP_TIMEOUT_MS_DEFAULT = 10_000

/** The setting itself, for the settings groups that read it (`ldap.timeoutMs`). */
export const LdapTimeoutMs = Type.Integer({ minimum: 100, default: LDAP_TIMEOUT_MS_DEFAULT })

/** NATS round trips and KV writes around the LDAP work of one request. */
const busMarginMs = 5_000

export function directoryAnswerWithinMs(ldapTimeoutMs: number): number {
  return 2 * ldapTimeoutMs
}

export function directoryRpcTimeoutMs(ldapTimeoutMs: number): number {
  return directoryAnswerWithinMs(ldapTimeoutMs) + busMarginMs
}

export function pendingSettleAfterMs(ldapTimeoutMs: number): number {
  return directoryRpcTimeoutMs(ldapTimeoutMs) + busMarginMs
}
