import { NatsSettings } from '@krbfleet/bus'
import { codec } from '@krbfleet/contracts'
import { LdapSettings } from '@krbfleet/directory'
import { HttpSettings } from '@krbfleet/runtime'
import Type, { type Static } from 'typebox'

/**
 * The account service's settings (libs/runtime loadConfig: `ldap.bindDn` -> KRBFLEET_LDAP_BIND_DN,
 * any setting also as `<NAME>_FILE`): KRBFLEET_NATS_* (libs/bus NatsSettings), KRBFLEET_LDAP_*
 * (libs/directory LdapSettings), KRBFLEET_HTTP_HOST / KRBFLEET_HTTP_PORT (health, default 9102),
 * KRBFLEET_DOMAIN_*, KRBFLEET_ACCOUNT_*. Secrets come from files: KRBFLEET_LDAP_PASSWORD_FILE, and
 * the key-encryption key from KRBFLEET_ACCOUNT_KEK_FILE (mode 0600) or KRBFLEET_ACCOUNT_KEK.
 */
export const AccountConfig = codec(
  Type.Object({
    nats: NatsSettings,
    ldap: LdapSettings,
    domain: Type.Object({
      /** NetBIOS name (CORP): the DOMAIN of DOMAIN\NAME. */
      netbios: Type.String({ minLength: 1, maxLength: 15 }),
      /** DNS name (corp.example.com): dNSHostName and the Kerberos salt derive from it. */
      dns: Type.String({ minLength: 3 }),
      /** Default: the DC's defaultNamingContext. */
      baseDn: Type.Optional(Type.String({ minLength: 3 })),
    }),
    account: Type.Object({
      kekFile: Type.Optional(Type.String({ minLength: 1 })),
      /**
       * KRBFLEET_ACCOUNT_SIGNER_KEY_FILE: the Ed25519 private key (PKCS#8 PEM, mode 0600) that signs
       * the credentials issued to agents; without it no credential is issued.
       */
      signerKeyFile: Type.Optional(Type.String({ minLength: 1 })),
      /** Where new accounts go when the request names no container (default CN=Computers). */
      containerDn: Type.Optional(Type.String({ minLength: 3 })),
      /** msDS-SupportedEncryptionTypes of new accounts: aes (24), aes256, aes128, rc4 ... or a number. */
      encryptionTypes: Type.String({ minLength: 1, default: 'aes' }),
      /** Rotation policy checked by `test account`. */
      maxPasswordAgeDays: Type.Integer({ minimum: 1, maximum: 3650, default: 30 }),
      /** Rotate each password before it reaches maxPasswordAgeDays (with per-account jitter). */
      scheduledRotation: Type.Boolean({ default: true }),
      /**
       * How long a replaced kvno stays on the servers after a rotation: the domain's maximum ticket
       * lifetime (AD's default 10 h). KRBFLEET_ACCOUNT_MAX_TICKET_LIFETIME_MS.
       */
      maxTicketLifetimeMs: Type.Integer({ minimum: 1000, maximum: 30 * 86_400_000, default: 36_000_000 }),
      /** How long a rotation waits for the online agents to stage before it commits (30 s). */
      rotationStageTimeoutMs: Type.Integer({ minimum: 100, maximum: 86_400_000, default: 30_000 }),
      /** How long it waits for them to apply once AD has the password (60 s). */
      rotationApplyTimeoutMs: Type.Integer({ minimum: 100, maximum: 86_400_000, default: 60_000 }),
      /** An agent whose last heartbeat is older than this counts as offline (90 s). */
      agentOnlineWithinMs: Type.Integer({ minimum: 100, maximum: 86_400_000, default: 90_000 }),
      /** A rotation not updated for this long lost its process and is taken over (10 s). */
      rotationStaleAfterMs: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 10_000 }),
    }),
    http: HttpSettings(9102),
  }),
  'account service configuration',
)
export type AccountConfig = Static<typeof AccountConfig.schema>

/** The environment variable holding the key-encryption key when no file is configured. */
export const KEK_ENV_VAR = 'KRBFLEET_ACCOUNT_KEK'
