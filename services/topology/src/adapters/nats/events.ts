import {
  AgentEnrolled,
  type EventEnvelope,
  type EventMeta,
  KerberosAccountAssigned,
  KerberosAccountUnassigned,
  PoolAdded,
  PoolChanged,
  PoolRemoved,
  ServerAddedToSite,
  ServerRemovedFromSite,
  SiteAdded,
  SiteChanged,
  SiteRemoved,
} from '@krbfleet/contracts'
import type { TopologyEvent } from '../../domain/index.ts'

/** A domain event as the contracts envelope published on the stream. */
export function toEnvelope(event: TopologyEvent, meta: EventMeta): EventEnvelope {
  switch (event.type) {
    case 'SiteAdded':
      return SiteAdded.create({ site: event.site, ...(event.ntlmOnly ? { ntlmOnly: true } : {}) }, meta)
    case 'SiteChanged':
      return SiteChanged.create({ site: event.site, ntlmOnly: event.ntlmOnly }, meta)
    case 'SiteRemoved':
      return SiteRemoved.create({ site: event.site }, meta)
    case 'PoolAdded':
      return PoolAdded.create({ pool: event.pool }, meta)
    case 'PoolChanged':
      return PoolChanged.create({ pool: event.pool, previous: event.previous }, meta)
    case 'PoolRemoved':
      return PoolRemoved.create({ pool: event.pool, site: event.site }, meta)
    case 'ServerAddedToSite':
      return ServerAddedToSite.create(
        { server: event.server, pool: event.pool, site: event.site, backend: event.backend },
        meta,
      )
    case 'ServerRemovedFromSite':
      return ServerRemovedFromSite.create({ server: event.server, pool: event.pool, site: event.site }, meta)
    case 'KerberosAccountAssigned':
      return KerberosAccountAssigned.create(
        {
          site: event.site,
          account: event.account,
          ...(event.previousAccount !== undefined ? { previousAccount: event.previousAccount } : {}),
        },
        meta,
      )
    case 'KerberosAccountUnassigned':
      return KerberosAccountUnassigned.create({ site: event.site, account: event.account }, meta)
    case 'AgentEnrolled':
      return AgentEnrolled.create({ server: event.agent.server }, meta)
  }
}
