import { codec } from '@krbfleet/contracts'
import Type, { type Static } from 'typebox'

/**
 * The account service's settings (libs/runtime loadConfig: `ldap.bindDn` -> KRBFLEET_LDAP_BIND_DN,
 * any setting also as `<NAME>_FILE`). Secrets come from files: KRBFLEET_LDAP_PASSWORD_FILE, and the
 * key-encryption key from KRBFLEET_ACCOUNT_KEK_FILE (mode 0600) or KRBFLEET_ACCOUNT_KEK.
 */
export const AccountConfig = codec(
  Type.Object({
    nats: Type.Object({
      url: Type.String({ minLength: 1, default: 'nats://127.0.0.1:4222' }),
      user: Type.Optional(Type.String({ minLength: 1 })),
      password: Type.Optional(Type.String({ minLength: 1 })),
    }),
    ldap: Type.Object({
      /** `ldaps://dc1.corp.example.com:636`, or `ldap://...:389` with startTls. */
      url: Type.String({
        pattern: '^ldaps?://',
        description: 'ldaps://host:636 or ldap://host:389 with StartTLS',
      }),
      startTls: Type.Boolean({ default: false }),
      caFile: Type.String({ minLength: 1 }),
      servername: Type.Optional(Type.String({ minLength: 1 })),
      bindDn: Type.String({ minLength: 1 }),
      password: Type.String({ minLength: 1 }),
      timeoutMs: Type.Integer({ minimum: 100, default: 10_000 }),
    }),
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
      /** Where new accounts go when the request names no container (default CN=Computers). */
      containerDn: Type.Optional(Type.String({ minLength: 3 })),
      /** msDS-SupportedEncryptionTypes of new accounts: aes (24), aes256, aes128, rc4 ... or a number. */
      encryptionTypes: Type.String({ minLength: 1, default: 'aes' }),
      /** Rotation policy checked by `test account`. */
      maxPasswordAgeDays: Type.Integer({ minimum: 1, maximum: 3650, default: 30 }),
    }),
    http: Type.Object({
      host: Type.String({ default: '127.0.0.1' }),
      port: Type.Integer({ minimum: 0, maximum: 65535, default: 9102 }),
    }),
  }),
  'account service configuration',
)
export type AccountConfig = Static<typeof AccountConfig.schema>

/** The environment variable holding the key-encryption key when no file is configured. */
export const KEK_ENV_VAR = 'KRBFLEET_ACCOUNT_KEK'
