import { createHash, timingSafeEqual } from 'node:crypto'
import Type, { type Static } from 'typebox'
import { codec, ErrorCode, KrbfleetError } from '@krbfleet/contracts'

/**
 * Bearer tokens and roles. Tokens are configured as sha256 hashes only, so that the console's
 * configuration never holds a usable secret; a presented token is hashed and compared in constant
 * time with every configured hash.
 */

export const Role = { Viewer: 'viewer', Operator: 'operator', Admin: 'admin' } as const
export type Role = (typeof Role)[keyof typeof Role]

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 }

/** viewer < operator < admin: viewer reads, operator rotates and tests, admin changes topology and accounts. */
export function roleAllows(held: Role, needed: Role): boolean {
  return rank[held] >= rank[needed]
}

export const TokenRecord = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.@-]+$' }),
    role: Type.Union([Type.Literal('viewer'), Type.Literal('operator'), Type.Literal('admin')]),
    /** Lower-case hex sha256 of the token. */
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  },
  { additionalProperties: false },
)
export type TokenRecord = Static<typeof TokenRecord>
export const TokenRecords = codec(Type.Array(TokenRecord, { maxItems: 1000 }), 'console tokens')

export interface Principal {
  name: string
  role: Role
  /** `token:<name>`: the actor of every change made with this token. */
  actor: string
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/** Checks a token list: well-formed records and unique names (a name is an audit identity). */
export function parseTokenRecords(value: unknown): TokenRecord[] {
  const records = TokenRecords.decode(value)
  const seen = new Set<string>()
  records.forEach((r, i) => {
    if (seen.has(r.name)) {
      throw new KrbfleetError(ErrorCode.Invalid, `console tokens: ${i}.name '${r.name}' is used twice`, {
        field: `${i}.name`,
      })
    }
    seen.add(r.name)
  })
  return records
}

export class TokenVerifier {
  readonly #records: { record: TokenRecord; digest: Buffer }[]

  constructor(records: TokenRecord[]) {
    this.#records = records.map((record) => ({ record, digest: Buffer.from(record.sha256, 'hex') }))
  }

  /** The principal of an `Authorization` header value, or undefined when it is missing or unknown. */
  verify(authorization: string | undefined): Principal | undefined {
    if (!authorization) return undefined
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization)
    if (!match?.[1]) return undefined
    const digest = createHash('sha256').update(match[1], 'utf8').digest()
    let found: TokenRecord | undefined
    // Compare with every record, so that the time taken tells nothing about which one matched.
    for (const { record, digest: expected } of this.#records) {
      if (timingSafeEqual(digest, expected) && !found) found = record
    }
    return found ? { name: found.name, role: found.role, actor: `token:${found.name}` } : undefined
  }
}
