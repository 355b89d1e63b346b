import Type, { type Static } from 'typebox'
import { codec } from './validation.ts'

/**
 * The credential the account service issues to one server's agent: retained in the credentials
 * bucket under the server's key, sealed to the agent's X25519 key and signed with the account
 * service's Ed25519 key (libs/sealing). Only the outer fields are readable by anyone with access to
 * the bucket; keys and password are inside the sealed envelope.
 */

const Name = Type.String({ minLength: 1, maxLength: 253 })
const Account = Type.String({ minLength: 3, maxLength: 32 })
const Kvno = Type.Integer({ minimum: 0 })
const B64 = Type.String({ minLength: 1, maxLength: 16_384, pattern: '^[A-Za-z0-9_-]+$' })

export const CredentialPhase = Type.Union([Type.Literal('staged'), Type.Literal('active')])
export type CredentialPhase = Static<typeof CredentialPhase>

/** libs/sealing SealedEnvelope, as stored. */
export const SealedEnvelopeSchema = Type.Object(
  {
    v: Type.Literal('krbfleet-seal/1'),
    typ: Type.Union([Type.Literal('json'), Type.Literal('bytes')]),
    signer: Type.String({ minLength: 1, maxLength: 128 }),
    recipient: Type.String({ minLength: 1, maxLength: 128 }),
    epk: B64,
    nonce: B64,
    ciphertext: B64,
    signature: B64,
  },
  { additionalProperties: false },
)

export const IssuedCredential = codec(
  Type.Object(
    {
      server: Name,
      account: Account,
      kvno: Kvno,
      /**
       * staged: the next kvno of a rotation, held beside the active one until AD has it (the agent
       * installs it without switching: a keytab adds the keys, IIS keeps the password pending);
       * active: the kvno AD has, the one in use. ARCHITECTURE.md, "The rotation protocol".
       */
      phase: CredentialPhase,
      /**
       * Older kvnos of the account the server keeps beside this one: tickets issued for them are
       * still valid (retired by the account service after the maximum ticket lifetime). Every other
       * kvno of the account the server holds goes.
       */
      keep: Type.Array(Kvno, { maxItems: 16 }),
      /** The rotation this credential belongs to (the agent's reports carry it as correlation id). */
      rotationId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      /** Key id of the agent key it is sealed to (libs/sealing keyIdOf). */
      recipient: Type.String({ minLength: 1, maxLength: 128 }),
      issuedAt: Type.String({ format: 'date-time' }),
      sealed: SealedEnvelopeSchema,
    },
    { additionalProperties: false },
  ),
  'issued credential',
)
export type IssuedCredential = Static<typeof IssuedCredential.schema>

/** What is sealed: everything a backend installs. A secret as a whole. */
export const CredentialPayload = codec(
  Type.Object(
    {
      server: Name,
      account: Account,
      /** `KERBAUTH$@CORP.EXAMPLE.COM` */
      principal: Type.String({ minLength: 3, maxLength: 300 }),
      kvno: Kvno,
      keys: Type.Array(
        Type.Object(
          { enctype: Type.Integer(), key: Type.String({ minLength: 1, maxLength: 128 }) },
          { additionalProperties: false },
        ),
        { minItems: 1, maxItems: 8 },
      ),
      /** Only for servers whose backend needs it (iis). */
      password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
      issuedAt: Type.String({ format: 'date-time' }),
    },
    { additionalProperties: false },
  ),
  'credential payload',
)
export type CredentialPayload = Static<typeof CredentialPayload.schema>

/**
 * The sealing context of a credential: bound into the key derivation and the AEAD, so a sealed
 * credential moved to another server's key, account or kvno does not open, and a staged one
 * relabelled active (switched before AD has the password) does not either.
 */
export function credentialContext(
  server: string,
  account: string,
  kvno: number,
  phase: CredentialPhase = 'active',
): string {
  const base = `krbfleet credential/1 ${server.toLowerCase()} ${account.toUpperCase()} ${kvno}`
  return phase === 'active' ? base : `${base} ${phase}`
}
