import { ErrorCode, KrbfleetError, type KrbfleetErrorOptions } from '@krbfleet/contracts'

/**
 * The DC refused an SPN because another account (or an alias such as HOST/ for HTTP/) already
 * holds it. `spn` is the SPN named by the DC's message, when it names one.
 */
export class SpnConflictError extends KrbfleetError {
  readonly spn: string | undefined
  constructor(spn: string | undefined, message: string, options: KrbfleetErrorOptions = {}) {
    super(ErrorCode.SpnConflict, message, {
      ...options,
      retryable: false,
      details: { ...options.details, ...(spn === undefined ? {} : { spn }) },
    })
    this.name = 'SpnConflictError'
    this.spn = spn
  }
}

/** LDAP result codes (RFC 4511 appendix A) that the mapping below distinguishes. */
export const LdapResultCode = {
  operationsError: 1,
  protocolError: 2,
  timeLimitExceeded: 3,
  sizeLimitExceeded: 4,
  authMethodNotSupported: 7,
  strongAuthRequired: 8,
  referral: 10,
  adminLimitExceeded: 11,
  unavailableCriticalExtension: 12,
  confidentialityRequired: 13,
  noSuchAttribute: 16,
  undefinedAttributeType: 17,
  inappropriateMatching: 18,
  constraintViolation: 19,
  attributeOrValueExists: 20,
  invalidAttributeSyntax: 21,
  noSuchObject: 32,
  invalidDnSyntax: 34,
  inappropriateAuthentication: 48,
  invalidCredentials: 49,
  insufficientAccessRights: 50,
  busy: 51,
  unavailable: 52,
  unwillingToPerform: 53,
  loopDetect: 54,
  namingViolation: 64,
  objectClassViolation: 65,
  notAllowedOnNonLeaf: 66,
  notAllowedOnRdn: 67,
  entryAlreadyExists: 68,
  objectClassModsProhibited: 69,
  other: 80,
} as const

/** Node socket error codes after which the DC may well answer again. */
const transientSocketCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
])

/** What was being done, for the message; `secrets` are scrubbed from any text the DC sent back. */
export interface LdapErrorContext {
  operation: string
  dn?: string
  secrets?: readonly string[]
}

function scrub(text: string, secrets: readonly string[] | undefined): string {
  let out = text
  for (const secret of secrets ?? []) if (secret.length > 0) out = out.split(secret).join('[redacted]')
  return out
}

/** `0000202F: samldb: spn[HTTP/pool01.corp.example.com] would cause a conflict` -> the SPN. */
export function spnFromConflictMessage(message: string): string | undefined {
  const samba = /spn\[([^\]]+)\]/i.exec(message)
  if (samba) return samba[1]
  const quoted = /spn ['"]?([^\s'"]+\/[^\s'"]+)['"]? would cause a conflict/i.exec(message)
  return quoted?.[1]
}

function isSpnConflict(message: string): boolean {
  return /0000202F|would cause a conflict|SPN_VALUE_NOT_UNIQUE|00002175/i.test(message)
}

/** The server's text of an ldapts result-code error: its message without ldapts's " Code: 0x13". */
function serverText(err: Error): string {
  return err.message.replace(/\s*Code: 0x[0-9a-f]+\s*$/i, '').trim()
}

/**
 * Maps anything an ldapts call throws to a KrbfleetError, once, here (STYLE rule 6). The LDAP
 * result code stays in `details.ldapCode`. Unknown failures become `internal`; lost connections,
 * busy and unavailable DCs become retryable `unavailable`.
 */
export function mapLdapError(err: unknown, context: LdapErrorContext): KrbfleetError {
  if (err instanceof KrbfleetError) return err
  const what = context.dn === undefined ? context.operation : `${context.operation} ${context.dn}`
  const e = err instanceof Error ? err : new Error(String(err))
  const rawCode: unknown = (e as { code?: unknown }).code
  const ldapCode = typeof rawCode === 'number' ? rawCode : undefined
  const details: Record<string, unknown> = { operation: context.operation }
  if (context.dn !== undefined) details.dn = context.dn

  if (ldapCode === undefined) {
    const socketCode = rawCode
    const text = scrub(e.message, context.secrets)
    if (
      typeof socketCode === 'string' &&
      /CERT|SELF_SIGNED|ALTNAME|UNABLE_TO_|ERR_SSL|ERR_TLS/.test(socketCode)
    ) {
      return new KrbfleetError(
        ErrorCode.InsecureConnection,
        `LDAP ${what}: the DC's TLS certificate is not trusted (${socketCode}): check the CA file and the servername`,
        { cause: e, retryable: false, details: { ...details, tlsError: socketCode } },
      )
    }
    if (/timed out|timeout/i.test(e.message) && !/connect/i.test(e.message)) {
      return new KrbfleetError(ErrorCode.Timeout, `LDAP ${what}: no answer from the DC in time`, {
        cause: e,
        details,
      })
    }
    if (
      (typeof socketCode === 'string' && transientSocketCodes.has(socketCode)) ||
      /socket|connection|closed|not established|reconnect/i.test(e.message)
    ) {
      return new KrbfleetError(ErrorCode.Unavailable, `LDAP ${what}: the DC is unreachable (${text})`, {
        cause: e,
        details: { ...details, ...(typeof socketCode === 'string' ? { socketCode } : {}) },
      })
    }
    return new KrbfleetError(ErrorCode.Internal, `LDAP ${what} failed: ${text}`, {
      cause: e,
      retryable: true,
      details,
    })
  }

  details.ldapCode = ldapCode
  const text = scrub(serverText(e), context.secrets)
  // The DC's own text goes to the service log (logContext), never into the caller's message.
  const logContext = text ? { dcText: text } : undefined
  const say = (code: ErrorCode, summary: string, options: KrbfleetErrorOptions = {}) =>
    new KrbfleetError(code, `LDAP ${what}: ${summary}`, {
      cause: e,
      details,
      ...(logContext ? { logContext } : {}),
      ...options,
    })
  const C = LdapResultCode
  switch (ldapCode) {
    case C.constraintViolation:
      if (isSpnConflict(text)) {
        const spn = spnFromConflictMessage(text)
        return new SpnConflictError(
          spn,
          `LDAP ${what}: ${spn ?? 'an SPN'} is already held by another account`,
          {
            cause: e,
            details,
            ...(logContext ? { logContext } : {}),
          },
        )
      }
      if (/spn validation failed/i.test(text)) {
        return say(
          ErrorCode.InsufficientRights,
          'the account may only write SPNs of its own host names (validated write); grant write on servicePrincipalName',
        )
      }
      return say(ErrorCode.RuleViolation, 'the DC refused the change (constraint violation)')
    case C.attributeOrValueExists:
      return say(ErrorCode.Conflict, 'the value is already present')
    case C.noSuchAttribute:
      return say(ErrorCode.Conflict, 'the value to remove is not present')
    case C.entryAlreadyExists:
      return say(ErrorCode.AlreadyExists, 'the entry already exists')
    case C.noSuchObject:
      return say(ErrorCode.NotFound, 'no such entry')
    case C.referral:
      return say(ErrorCode.NotFound, 'the DN is outside the naming contexts of this DC')
    case C.insufficientAccessRights:
      return say(ErrorCode.InsufficientRights, 'the bound identity lacks the right to do this')
    case C.invalidCredentials:
      // The DC's text names neither the password nor anything secret; the bind DN is in `what`.
      return say(ErrorCode.Unauthorized, 'the DC refused the bind credentials', { retryable: false })
    case C.inappropriateAuthentication:
    case C.authMethodNotSupported:
      return say(ErrorCode.Unauthorized, 'the DC refused this kind of bind', { retryable: false })
    case C.strongAuthRequired:
    case C.confidentialityRequired:
      return say(ErrorCode.InsecureConnection, 'the DC requires an encrypted connection (LDAPS or StartTLS)')
    case C.busy:
    case C.unavailable:
      return say(ErrorCode.Unavailable, 'the DC is busy or unavailable, try again')
    case C.operationsError:
    case C.other:
    case C.loopDetect:
      return say(ErrorCode.Internal, 'the DC failed the operation', { retryable: true })
    case C.timeLimitExceeded:
      return say(ErrorCode.Timeout, 'the DC hit its time limit')
    case C.unwillingToPerform:
      if (
        /unicodePwd|password|confidential/i.test(text) &&
        /encrypt|secure|confidential|tls|ssl/i.test(text)
      ) {
        return say(
          ErrorCode.InsecureConnection,
          'the DC accepts password writes only over an encrypted connection',
        )
      }
      return say(ErrorCode.RuleViolation, 'the DC is unwilling to perform this change')
    case C.sizeLimitExceeded:
    case C.adminLimitExceeded:
      return say(
        ErrorCode.RuleViolation,
        'the search matched more entries than allowed; narrow it or page it',
      )
    case C.notAllowedOnNonLeaf:
      return say(ErrorCode.Conflict, 'the entry still has children')
    case C.namingViolation:
    case C.objectClassViolation:
      // 00002037 "structural objectClass computer is not a valid child class of ...": a container
      // that cannot hold the object, the usual mistake being a user or group DN as the container.
      if (/not a valid child class|00002037/i.test(text)) {
        return say(
          ErrorCode.Invalid,
          'the container does not accept this kind of object: name an OU or a container such as CN=Computers',
          { retryable: false },
        )
      }
      return say(ErrorCode.Invalid, 'the DC refused the request as malformed')
    case C.undefinedAttributeType:
    case C.inappropriateMatching:
    case C.invalidAttributeSyntax:
    case C.invalidDnSyntax:
    case C.notAllowedOnRdn:
    case C.objectClassModsProhibited:
    case C.unavailableCriticalExtension:
    case C.protocolError:
      return say(ErrorCode.Invalid, 'the DC refused the request as malformed')
    default:
      return say(ErrorCode.Internal, `the DC answered LDAP result code ${ldapCode}`, { retryable: false })
  }
}
