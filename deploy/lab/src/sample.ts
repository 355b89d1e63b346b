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

/** `.lab/servers.json`: every lab server with its pool FQDN and backend (agents add address:port later). */
export function serversFile(topology: TopologyDocument = sampleTopology) {
  return {
    servers: topology.servers.map((server) => ({
      fqdn: server.fqdn,
      pool: server.pool,
      site: topology.pools.find((pool) => pool.fqdn === server.pool)?.site ?? null,
      backend: server.backend,
    })),
  }
}
