import { NatsSettings } from '@krbfleet/bus'
import { codec } from '@krbfleet/contracts'
import { LdapSettings } from '@krbfleet/directory'
import { HttpSettings } from '@krbfleet/runtime'
import Type, { type Static } from 'typebox'

/**
 * spn-sync's settings (libs/runtime loadConfig: `ldap.bindDn` -> KRBFLEET_LDAP_BIND_DN; any setting
 * also as `<NAME>_FILE`, which is how the LDAP password should arrive): KRBFLEET_NATS_* (libs/bus
 * NatsSettings), KRBFLEET_LDAP_* (libs/directory LdapSettings), KRBFLEET_HTTP_HOST /
 * KRBFLEET_HTTP_PORT (health, default 9103), KRBFLEET_SPN_*. The LDAP identity needs only
 * "write servicePrincipalName" on the accounts' OU (lab/NOTES.md, least-privilege identities).
 */
export const SpnSyncConfig = codec(
  Type.Object({
    nats: NatsSettings,
    ldap: LdapSettings,
    spn: Type.Object({
      /** KRBFLEET_SPN_RESYNC_INTERVAL_MS: every account is reconciled this often (drift repair); 0 = off. */
      resyncIntervalMs: Type.Integer({ minimum: 0, default: 300_000 }),
      /** KRBFLEET_SPN_CONCURRENCY: accounts reconciled at the same time (one account never twice at once). */
      concurrency: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
    }),
    http: HttpSettings(9103),
  }),
  'spn-sync configuration',
)
export type SpnSyncConfig = Static<typeof SpnSyncConfig.schema>
