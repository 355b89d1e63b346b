import type { RpcContext } from '@krbfleet/bus'
import { ErrorCode, KrbfleetError, type TopologyDocumentInput } from '@krbfleet/contracts'
import type { AgentEnrolments } from '../src/enrolment/enrolment.ts'

/**
 * A fleet for the scale test and `npm run bench -- --only scale` (issue 16): `sites` sites of
 * `poolsPerSite` pools each, `servers` servers spread over the pools, every site assigned `account`.
 */
export interface Fleet {
  document: TopologyDocumentInput
  servers: string[]
  /** The SPNs the fleet's pools want on the account, lower case, sorted (`http/<pool>`). */
  spns: string[]
  /** The X25519 public key (base64url form) the fleet's agent `i` enrols with. */
  key(i: number): string
}

export function fleet(options: {
  servers: number
  sites: number
  poolsPerSite: number
  account: string
}): Fleet {
  const site = (s: number) => `site${String(s).padStart(2, '0')}`
  const pool = (p: number) => `pool${String(p).padStart(3, '0')}.fleet.corp.example.com`
  const pools = options.sites * options.poolsPerSite
  const servers = Array.from(
    { length: options.servers },
    (_, i) => `web${String(i).padStart(5, '0')}.fleet.corp.example.com`,
  )
  return {
    document: {
      sites: Array.from({ length: options.sites }, (_, s) => ({ name: site(s) })),
      pools: Array.from({ length: pools }, (_, p) => ({ fqdn: pool(p), site: site(p % options.sites) })),
      servers: servers.map((fqdn, i) => ({ fqdn, pool: pool(i % pools) })),
      assignments: Array.from({ length: options.sites }, (_, s) => ({
        site: site(s),
        account: options.account,
      })),
    },
    servers,
    spns: Array.from({ length: pools }, (_, p) => `http/${pool(p)}`).sort(),
    key: (i) => `${i.toString(36).padStart(4, '0')}${'k'.repeat(39)}`,
  }
}

/**
 * Enrols an agent for every server of the fleet through the enrolment use case (a one-time token
 * issued, then used), `atOnce` at a time. A lost race (409, the token given back) is retried, as an
 * agent does. Returns how many races were lost.
 */
export async function enrolFleet(enrolments: AgentEnrolments, f: Fleet, atOnce: number): Promise<number> {
  const ctx = (server: string) => ({ actor: 'user:fleet', server }) as RpcContext
  let next = 0
  let conflicts = 0
  const enrolOne = async (i: number) => {
    const server = f.servers[i]!
    const { token } = await enrolments.issueToken({ server }, ctx(server))
    for (;;) {
      try {
        return await enrolments.enrol({ token, encryptionKey: f.key(i) }, ctx(server))
      } catch (err) {
        if (!(err instanceof KrbfleetError && err.code === ErrorCode.Conflict)) throw err
        conflicts++
      }
    }
  }
  await Promise.all(
    Array.from({ length: atOnce }, async () => {
      while (next < f.servers.length) await enrolOne(next++)
    }),
  )
  return conflicts
}
