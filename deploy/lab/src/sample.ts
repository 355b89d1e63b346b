import type { TopologyDocument } from '@krbfleet/contracts'

/**
 * The lab's sample topology, in the shape of the topology document (libs/contracts): two sites,
 * three pools with internal/external web names and a load-balancer name, six servers mixing the
 * iis and keytab backends, and one Kerberos account assigned to both sites, as in Lync's
 * New-CsKerberosAccountAssignment -Identity "site:Redmond".
 */
export const labAccount = 'CORP\\KERBAUTH'

export const sampleTopology: TopologyDocument = {
  sites: [{ name: 'redmond' }, { name: 'dublin' }],
  pools: [
    {
      fqdn: 'pool01.corp.example.com',
      site: 'redmond',
      webServices: true,
      internalWebFqdn: 'webint01.corp.example.com',
      externalWebFqdn: 'web01.example.com',
      loadBalancerNames: ['lb01.corp.example.com'],
      aliases: [],
      shortNameSpns: false,
    },
    {
      fqdn: 'pool02.corp.example.com',
      site: 'redmond',
      webServices: true,
      internalWebFqdn: 'webint02.corp.example.com',
      externalWebFqdn: 'web02.example.com',
      loadBalancerNames: ['lb02.corp.example.com'],
      aliases: [],
      shortNameSpns: false,
    },
    {
      fqdn: 'pool03.corp.example.com',
      site: 'dublin',
      webServices: true,
      internalWebFqdn: 'webint03.corp.example.com',
      externalWebFqdn: 'web03.example.com',
      loadBalancerNames: ['lb03.corp.example.com'],
      aliases: [],
      shortNameSpns: false,
    },
  ],
  servers: [
    { fqdn: 'fe01.corp.example.com', pool: 'pool01.corp.example.com', backend: 'iis' },
    { fqdn: 'fe02.corp.example.com', pool: 'pool01.corp.example.com', backend: 'keytab' },
    { fqdn: 'fe03.corp.example.com', pool: 'pool02.corp.example.com', backend: 'iis' },
    { fqdn: 'fe04.corp.example.com', pool: 'pool02.corp.example.com', backend: 'keytab' },
    { fqdn: 'fe05.corp.example.com', pool: 'pool03.corp.example.com', backend: 'iis' },
    { fqdn: 'fe06.corp.example.com', pool: 'pool03.corp.example.com', backend: 'keytab' },
  ],
  assignments: [
    { site: 'redmond', account: labAccount },
    { site: 'dublin', account: labAccount },
  ],
  agents: [],
}

/** The SPNs spn-sync must write for the sample (docs/ARCHITECTURE.md: pool, web and LB names). */
export function expectedSpns(topology: TopologyDocument = sampleTopology): string[] {
  const names = topology.pools.flatMap((pool) => [
    pool.fqdn,
    ...(pool.internalWebFqdn ? [pool.internalWebFqdn] : []),
    ...(pool.externalWebFqdn ? [pool.externalWebFqdn] : []),
    ...pool.loadBalancerNames,
    ...pool.aliases,
  ])
  return [...new Set(names.map((name) => `HTTP/${name}`))].sort()
}

/** Where a lab server's web server listens (a keytab server's Apache); null when it has none. */
export type WebEndpoint = { address: string; port: number } | null

/**
 * `.lab/servers.json`: every lab server with its pool FQDN, backend and the address:port its web
 * server listens on (`web`: the keytab servers' Apache; null for the iis ones, whose IIS is the
 * applicationHost.config the agent edits), and the `curl --negotiate` that reaches it as its pool.
 */
export function serversFile(
  topology: TopologyDocument = sampleTopology,
  webOf: (fqdn: string) => WebEndpoint = () => null,
) {
  return {
    servers: topology.servers.map((server) => {
      const web = webOf(server.fqdn)
      return {
        fqdn: server.fqdn,
        pool: server.pool,
        site: topology.pools.find((pool) => pool.fqdn === server.pool)?.site ?? null,
        backend: server.backend,
        web,
        ...(web ? { curl: negotiateCommand(server.pool, web) } : {}),
      }
    }),
  }
}

/** `curl --negotiate` for http://<pool>/ at `web` (the name resolved there): 200 with a ticket. */
export function negotiateCommand(pool: string, web: { address: string; port: number }): string {
  return `curl --negotiate -u : --resolve ${pool}:${web.port}:${web.address} -w '%{http_code}\\n' -o /dev/null -s http://${pool}:${web.port}/`
}
