import { codec } from '@krbfleet/contracts'
import Type, { type Static } from 'typebox'

/**
 * spn-sync's settings (libs/runtime loadConfig: `ldap.bindDn` -> KRBFLEET_LDAP_BIND_DN; any setting
 * also as `<NAME>_FILE`, which is how the LDAP password should arrive). The LDAP identity needs only
 * "write servicePrincipalName" on the accounts' OU (lab/NOTES.md, least-privilege identities).
 */
export const SpnSyncConfig = codec(
  Type.Object({
    nats: Type.Object({
      url: Type.String({ minLength: 1, default: 'nats://127.0.0.1:4222' }),
      user: Type.Optional(Type.String({ minLength: 1 })),
      password: Type.Optional(Type.String({ minLength: 1 })),
    }),
    ldap: Type.Object({
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
    spn: Type.Object({
      /** KRBFLEET_SPN_RESYNC_INTERVAL_MS: every account is reconciled this often (drift repair); 0 = off. */
      resyncIntervalMs: Type.Integer({ minimum: 0, default: 300_000 }),
      /**
       * KRBFLEET_SPN_FAILPOINT, fault injection for tests only: the process kills itself with
       * SIGKILL at this point of a write (after-intent: the intent is recorded, AD not yet written;
       * after-modify: AD written, the intent not yet confirmed).
       */
      failpoint: Type.Optional(Type.Union([Type.Literal('after-intent'), Type.Literal('after-modify')])),
    }),
    http: Type.Object({
      host: Type.String({ default: '127.0.0.1' }),
      port: Type.Integer({ minimum: 0, maximum: 65535, default: 9103 }),
    }),
  }),
  'spn-sync configuration',
)
export type SpnSyncConfig = Static<typeof SpnSyncConfig.schema>
