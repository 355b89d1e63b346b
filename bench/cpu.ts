/**
 * Pure benchmarks (no servers): RFC 3962 string-to-key, the keytab codec, sealing, key derivation
 * per rotation, the topology decider and spn-sync's desiredSpns + diff.
 */
import { randomBytes } from 'node:crypto'
import type { Pool, TopologyDocument, TopologyRevision } from '@krbfleet/contracts'
import {
  adComputerSalt,
  decodeKeytab,
  deriveAccountKeys,
  EncType,
  encodeKeytab,
  exportAccountKeys,
  stringToKey,
} from '@krbfleet/kerberos'
import { generateAgentKeyPair, generateSignerKeyPair, open, seal } from '@krbfleet/sealing'
import { desiredSpns, diff } from '@krbfleet/spn-sync'
import { buildDocument, decide, execute } from '@krbfleet/topology'
import { type BenchResult, latencyRow, rateRow, timeBatch, timeEach } from './measure.ts'

const account = { realm: 'CORP.EXAMPLE.COM', samAccountName: 'KERBWEB$', dnsDomain: 'corp.example.com' }
/** A password like the account service's (at least 64 characters). */
const password = randomBytes(60).toString('base64')

export async function cryptoBenchmarks(): Promise<BenchResult[]> {
  const results: BenchResult[] = []
  const salt = adComputerSalt(account)

  // RFC 3962 string-to-key: PBKDF2-HMAC-SHA1, 4096 iterations (what AD uses), then DK(tkey, "kerberos").
  const n = 100
  const aes256 = await timeEach(n, () => stringToKey(EncType.Aes256CtsHmacSha196, password, salt).fill(0), 5)
  results.push(latencyRow('crypto', 'string-to-key AES256 (RFC 3962, 4096 iter)', n, aes256))
  const aes128 = await timeEach(n, () => stringToKey(EncType.Aes128CtsHmacSha196, password, salt).fill(0), 5)
  results.push(latencyRow('crypto', 'string-to-key AES128 (RFC 3962, 4096 iter)', n, aes128))
  const both = await timeEach(n, () => deriveAccountKeys({ password, ...account, kvno: 2 }), 5)
  results.push(latencyRow('crypto', 'per account: AES256+AES128 keys', n, both))

  // Keytab codec: a keytab of one account with 3 kvnos x 2 enctypes (a switch in progress).
  const entries = [2, 3, 4].flatMap((kvno) =>
    deriveAccountKeys({ password: `${password}${kvno}`, ...account, kvno }),
  )
  const keytabN = 20_000
  const keytabMs = await timeBatch(() => {
    for (let i = 0; i < keytabN; i++) decodeKeytab(encodeKeytab(entries))
  })
  results.push(rateRow('crypto', 'keytab encode+decode (6 entries)', keytabN, keytabMs))

  // Sealing: one credential to one agent (X25519 + HKDF + AES-256-GCM, signed with Ed25519), and
  // the agent opening it.
  const signer = generateSignerKeyPair()
  const agent = generateAgentKeyPair()
  const credential = {
    account: 'CORP\\KERBWEB',
    kvno: 3,
    password,
    keys: exportAccountKeys(deriveAccountKeys({ password, ...account, kvno: 3 })),
  }
  const sealN = 2000
  const sealMs = await timeBatch(() => {
    for (let i = 0; i < sealN; i++) {
      const sealed = seal(credential, { recipientPublicKey: agent.publicKey, signer, context: 'bench/web01' })
      open(sealed, {
        recipientPrivateKey: agent.privateKey,
        signerPublicKey: signer.publicKey,
        context: 'bench/web01',
      })
    }
  })
  results.push(rateRow('crypto', 'seal+open one credential per agent', sealN, sealMs))

  // A rotation for 500 agents: derive the AES keys once and seal 500 times (ARCHITECTURE: "derive
  // the AES keys once per rotation, not once per agent"), versus deriving them for every agent.
  const agents = Array.from({ length: 500 }, () => generateAgentKeyPair())
  const sealAll = (derivePerAgent: boolean) => {
    const once = derivePerAgent
      ? undefined
      : exportAccountKeys(deriveAccountKeys({ password, ...account, kvno: 4 }))
    for (const [i, recipient] of agents.entries()) {
      const keys = once ?? exportAccountKeys(deriveAccountKeys({ password, ...account, kvno: 4 }))
      seal(
        { account: 'CORP\\KERBWEB', kvno: 4, password, keys },
        { recipientPublicKey: recipient.publicKey, signer, context: `bench/agent${i}` },
      )
    }
  }
  const onceMs = await timeBatch(() => sealAll(false))
  const perAgentMs = await timeBatch(() => sealAll(true))
  results.push({
    group: 'crypto',
    name: 'rotation for 500 agents: keys derived once',
    n: 500,
    value: Math.round(onceMs),
    unit: 'ms',
    note: `${Math.round((onceMs / 500) * 1000) / 1000} ms/agent`,
  })
  results.push({
    group: 'crypto',
    name: 'rotation for 500 agents: keys derived per agent',
    n: 500,
    value: Math.round(perAgentMs),
    unit: 'ms',
    note: `${Math.round((perAgentMs / onceMs) * 10) / 10}x the derive-once time`,
  })
  return results
}

/** 20 sites x 10 pools x 10 servers = 2,000 servers, 5 accounts. */
export function largeTopology(): TopologyDocument {
  const sites = Array.from({ length: 20 }, (_, s) => ({ name: `site${s}` }))
  const pools = sites.flatMap((site, s) =>
    Array.from({ length: 10 }, (_, p) => ({
      fqdn: `pool${s}-${p}.corp.example.com`,
      site: site.name,
      internalWebFqdn: `int${s}-${p}.corp.example.com`,
      externalWebFqdn: `web${s}-${p}.example.com`,
      loadBalancerNames: [`lb${s}-${p}.corp.example.com`],
    })),
  )
  const servers = pools.flatMap((pool) =>
    Array.from({ length: 10 }, (_, i) => ({
      fqdn: `srv${i}-${pool.fqdn}`,
      pool: pool.fqdn,
      backend: 'keytab' as const,
    })),
  )
  const assignments = sites.map((site, s) => ({ site: site.name, account: `CORP\\KWEB${s % 5}` }))
  return buildDocument({ sites, pools, servers, assignments })
}

export async function topologyBenchmarks(): Promise<BenchResult[]> {
  const results: BenchResult[] = []
  let doc: TopologyDocument | undefined
  const buildMs = await timeBatch(() => {
    doc = largeTopology()
  })
  const state = doc!
  if (state.servers.length !== 2000) throw new Error(`expected 2,000 servers, got ${state.servers.length}`)
  results.push({
    group: 'topology',
    name: 'build a 2,000-server topology (every rule checked)',
    n: 1,
    value: Math.round(buildMs * 10) / 10,
    unit: 'ms',
    note: '20 sites, 200 pools, 2,000 servers',
  })
  const n = 2000
  const addServer = await timeEach(
    n,
    (i) =>
      decide(state, {
        type: 'addServer',
        server: { fqdn: `new${i}.corp.example.com`, pool: 'pool7-3.corp.example.com' },
      }),
    50,
  )
  results.push(latencyRow('topology', 'decide addServer on 2,000 servers', n, addServer))
  const addPool = await timeEach(
    n,
    (i) => execute(state, { type: 'addPool', pool: { fqdn: `newpool${i}.corp.example.com`, site: 'site3' } }),
    50,
  )
  results.push(latencyRow('topology', 'decide+evolve addPool on 2,000 servers', n, addPool))
  const refused = await timeEach(
    n,
    () => {
      try {
        decide(state, {
          type: 'addServer',
          server: { fqdn: 'srv1-pool2-2.corp.example.com', pool: 'pool7-3.corp.example.com' },
        })
      } catch {
        return
      }
      throw new Error('a duplicate server must be refused')
    },
    50,
  )
  results.push(latencyRow('topology', 'decide a refused duplicate server', n, refused))
  return results
}

/** 1,000 web pools over 100 sites and 25 accounts, each pool with 5 names (+ short names on half). */
export function revisionOf1000Pools(): TopologyRevision {
  const sites = Array.from({ length: 100 }, (_, s) => ({ name: `site${s}` }))
  const pools: Pool[] = Array.from({ length: 1000 }, (_, p) => ({
    fqdn: `pool${p}.corp.example.com`,
    site: `site${p % 100}`,
    webServices: true,
    internalWebFqdn: `int${p}.corp.example.com`,
    externalWebFqdn: `web${p}.example.com`,
    loadBalancerNames: [`lb${p}.corp.example.com`],
    aliases: [`alias${p}.corp.example.com`],
    shortNameSpns: p % 2 === 0,
  }))
  return {
    revision: 7,
    enabledAt: new Date(0).toISOString(),
    enabledBy: 'token:bench',
    topology: {
      sites,
      pools,
      servers: [],
      assignments: sites.map((site, s) => ({ site: site.name, account: `CORP\\KWEB${s % 25}` })),
      agents: [],
    },
  }
}

export async function spnBenchmarks(): Promise<BenchResult[]> {
  const revision = revisionOf1000Pools()
  const desired = desiredSpns(revision)
  const total = [...desired.values()].reduce((a, s) => a + [...s].length, 0)
  // What AD holds: every desired SPN but 10% missing, 5% stale managed values and a foreign one.
  const actual = new Map<string, string[]>()
  const managed = new Map<string, string[]>()
  for (const [acct, spns] of desired) {
    const list = [...spns]
    const present = list.filter((_, i) => i % 10 !== 0)
    const stale = list.filter((_, i) => i % 20 === 0).map((s) => `${s}.old`)
    actual.set(acct, [...present, ...stale, `HOST/foreign-${acct.length}.corp.example.com`])
    managed.set(acct, [...present, ...stale])
  }
  const n = 50
  const pass = await timeEach(
    n,
    () => {
      for (const [acct, spns] of desiredSpns(revision)) {
        diff({ desired: spns, actual: actual.get(acct) ?? [], managed: managed.get(acct) ?? [] })
      }
    },
    3,
  )
  return [
    latencyRow('spn', 'desiredSpns + diff, 1,000 pools, 25 accounts', n, pass, `${total} SPNs per pass`),
  ]
}
