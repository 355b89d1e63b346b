/**
 * Benchmarks against real servers it starts on loopback (@krbfleet/testing): JetStream through
 * libs/bus, LDAP writes through libs/directory on a Samba AD DC, and the whole system's time from
 * `topology enable` to the SPNs being in AD. Every server started here is stopped here.
 */
import { randomBytes } from 'node:crypto'
import { type Bus, connectBus, consumeEvents } from '@krbfleet/bus'
import { CredentialApplied, subjects } from '@krbfleet/contracts'
import { connectDirectory, encodeUnicodePwd } from '@krbfleet/directory'
import { silentLogger } from '@krbfleet/logging'
import { startDc, startNats } from '@krbfleet/testing'
import { type System, startSystem } from '../test/support/system.ts'
import { type BenchResult, latencyRow, rateRow, stats, timeBatch, timeEach } from './measure.ts'

/** An agent's report, as thousands of agents send them after a rotation (the events stream). */
const report = (i: number) =>
  CredentialApplied.create(
    { server: `web${i % 500}.corp.example.com`, account: 'CORP\\KERBWEB', kvno: 3 },
    { actor: 'agent:bench' },
  )

export async function natsBenchmarks(): Promise<BenchResult[]> {
  const nats = await startNats()
  let bus: Bus | undefined
  try {
    bus = await connectBus({ servers: nats.url, name: 'bench', logger: silentLogger() })
    await bus.ensureStreams()
    const results: BenchResult[] = []
    const live = bus

    // One at a time: each publish awaits its ack (msgID = envelope id).
    const serialN = 1000
    const serial = await timeEach(serialN, (i) => live.publish(report(i)), 50)
    results.push(latencyRow('nats', 'JetStream publish, awaiting each ack', serialN, serial))

    // Pipelined: 256 publishes in flight, through the same bus.publish.
    const pipelinedN = 20_000
    const window = 256
    const pipelinedMs = await timeBatch(async () => {
      for (let start = 0; start < pipelinedN; start += window) {
        const batch = []
        for (let i = start; i < Math.min(pipelinedN, start + window); i++) batch.push(live.publish(report(i)))
        await Promise.all(batch)
      }
    })
    results.push(
      rateRow('nats', 'JetStream publish pipelined (256 in flight)', pipelinedN, pipelinedMs, 'msgs/s'),
    )

    // A duplicate publish (same envelope id) is dropped by the server: measured for the record.
    const again = report(0)
    await live.publish(again)
    const dup = await live.publish(again)
    if (!dup.duplicate) throw new Error('a repeated msgID must be reported as a duplicate')

    // Durable consume + ack of everything stored, through consumeEvents (handler outcome -> ack).
    const stored = (await live.jsm.streams.info('KRBFLEET_EVENTS')).state.messages
    let handled = 0
    let finished: () => void = () => {}
    const allHandled = new Promise<void>((resolve) => {
      finished = resolve
    })
    const consumeMs = await timeBatch(async () => {
      const consumer = consumeEvents(live, {
        durable: 'bench-consumer',
        filterSubject: subjects.domainEvents('agent'),
        events: [CredentialApplied],
        logger: silentLogger(),
        prefetch: 256,
        async handle() {
          handled += 1
          if (handled === stored) finished()
        },
      })
      await allHandled
      await consumer.stop()
    })
    results.push(
      rateRow(
        'nats',
        'durable consume + ack (consumeEvents)',
        stored,
        consumeMs,
        'msgs/s',
        'each ack awaits the server (ackAck)',
      ),
    )
    return results
  } finally {
    await bus?.close().catch(() => {})
    await nats.stop()
  }
}

export async function ldapBenchmarks(): Promise<BenchResult[]> {
  const dc = await startDc()
  const directory = await connectDirectory({
    url: dc.ldapsUrl,
    caFile: dc.caFile,
    servername: dc.tlsServername,
    bindDn: dc.adminDn,
    password: dc.adminPassword,
  })
  try {
    const results: BenchResult[] = []
    const n = 100
    const dnOf = (i: number) => `CN=BENCH${i},CN=Computers,${dc.baseDn}`
    const add = await timeEach(n, (i) =>
      directory.add(dnOf(i), {
        objectClass: ['top', 'person', 'organizationalPerson', 'user', 'computer'],
        sAMAccountName: `BENCH${i}$`,
        userAccountControl: '4096',
        dNSHostName: `bench${i}.${dc.dnsDomain}`,
        'msDS-SupportedEncryptionTypes': '24',
        unicodePwd: encodeUnicodePwd(randomBytes(48).toString('base64')),
      }),
    )
    results.push(latencyRow('ldap', 'add computer account with password (LDAPS)', n, add))
    const reset = await timeEach(n, (i) => directory.setPassword(dnOf(i), randomBytes(48).toString('base64')))
    results.push(latencyRow('ldap', 'password reset, unicodePwd (LDAPS)', n, reset))
    const kvno = await timeEach(n, (i) => directory.readKvno(dnOf(i)))
    results.push(latencyRow('ldap', 'read back msDS-KeyVersionNumber', n, kvno))
    // One modify adding 2 and removing 2 SPNs (spn-sync's one-modify-per-account write).
    const modifyN = 200
    const modify = await timeEach(modifyN, (i) => {
      const dn = dnOf(i % n)
      const round = Math.floor(i / n)
      return directory.modifySpns(dn, {
        add: [`HTTP/b${i}-a.corp.example.com`, `HTTP/b${i}-b.corp.example.com`],
        remove: round === 0 ? [] : [`HTTP/b${i - n}-a.corp.example.com`, `HTTP/b${i - n}-b.corp.example.com`],
      })
    })
    results.push(latencyRow('ldap', 'SPN modify (add 2 / remove 2, one modify)', modifyN, modify))
    const holders = await timeEach(n, (i) => directory.findSpnHolders([`HTTP/b${i}-a.corp.example.com`]))
    results.push(latencyRow('ldap', 'forest SPN duplicate lookup (1 SPN)', n, holders))
    const remove = await timeEach(n, (i) => directory.delete(dnOf(i)))
    results.push(latencyRow('ldap', 'delete computer account', n, remove))
    return results
  } finally {
    await directory.close().catch(() => {})
    await dc.stop()
  }
}

/**
 * The whole system (test/support/system.ts: topology, account, console, spn-sync as its own
 * process, one nats-server, one DC): the time from the enable request to every new SPN being
 * readable in AD, polled every 5 ms by an admin LDAPS client.
 */
export async function e2eBenchmarks(): Promise<BenchResult[]> {
  const system = await startSystem()
  try {
    const check = (ok: boolean, what: string) => {
      if (!ok) throw new Error(what)
    }
    const accountNew = await system.cli(['account', 'new', 'CORP\\KERBWEB'])
    check(accountNew.code === 0, `account new failed: ${accountNew.stderr}`)
    for (const args of [
      ['site', 'add', 'dublin'],
      ['assignment', 'new', 'dublin', 'CORP\\KERBWEB'],
    ]) {
      const r = await system.cli(args)
      check(r.code === 0, `${args.join(' ')} failed: ${r.stderr}`)
    }
    const addPool = async (i: number) => {
      const r = await system.api('POST', '/v1/pools', {
        body: {
          fqdn: `pool${i}.corp.example.com`,
          site: 'dublin',
          loadBalancerNames: [`lb${i}.corp.example.com`],
        },
      })
      check(r.status === 201, `pool add: ${JSON.stringify(r.body)}`)
    }
    const waitForSpns = async (i: number) => {
      const wanted = [`http/pool${i}.corp.example.com`, `http/lb${i}.corp.example.com`]
      const deadline = Date.now() + 60_000
      for (;;) {
        const spns = (await system.spnsOf('KERBWEB$')).map((s) => s.toLowerCase())
        if (wanted.every((w) => spns.includes(w))) return
        if (Date.now() > deadline) throw new Error(`SPNs of pool${i} never appeared`)
        await new Promise((r) => setTimeout(r, 5))
      }
    }
    const results: BenchResult[] = []
    const apiN = 20
    // Each round adds one pool to the draft (untimed), then times the enable until both its SPNs are in AD.
    const samples: number[] = []
    for (let i = 100; i < 100 + apiN; i++) {
      await addPool(i)
      const ms = await timeBatch(async () => {
        const r = await system.api('POST', '/v1/topology/enable')
        check(r.status === 200, `enable: ${JSON.stringify(r.body)}`)
        await waitForSpns(i)
      })
      samples.push(ms)
    }
    const enable = stats(samples)
    results.push(
      latencyRow(
        'e2e',
        'POST /v1/topology/enable -> SPNs in AD',
        apiN,
        enable,
        `p50 ${enable.p50Ms.toFixed(1)} ms, max ${enable.maxMs.toFixed(1)} ms; goal p50 <= 100 ms: ${enable.p50Ms <= 100 ? 'met' : 'MISSED'}`,
      ),
    )
    results.push(await writesPerChange(system))
    const cliN = 5
    const cliSamples: number[] = []
    for (let i = 200; i < 200 + cliN; i++) {
      await addPool(i)
      cliSamples.push(
        await timeBatch(async () => {
          const r = await system.cli(['topology', 'enable'])
          check(r.code === 0, `krbfleet topology enable: ${r.stderr}`)
          await waitForSpns(i)
        }),
      )
    }
    results.push(
      latencyRow('e2e', '`krbfleet topology enable` (CLI process) -> SPNs in AD', cliN, stats(cliSamples)),
    )
    return results
  } finally {
    await system.stop()
  }
}

/**
 * LDAP writes per change: one enable that adds a pool with 9 aliases (10 new SPNs on one account),
 * counted as spn-sync's LDAP modify operations on its /metrics before and after (goal: one).
 */
async function writesPerChange(system: System): Promise<BenchResult> {
  const modifies = async () => {
    const text = await (await fetch(`${system.spnSync.url}/metrics`)).text()
    let sum = 0
    for (const m of text.matchAll(/^krbfleet_ldap_operation_seconds_count\{([^}]*)\} (\d+)/gm))
      if (/operation="modify[^"]*"/.test(m[1]!)) sum += Number(m[2])
    return sum
  }
  const aliases = Array.from({ length: 9 }, (_, i) => `alias${i}.ten.corp.example.com`)
  const added = await system.api('POST', '/v1/pools', {
    body: { fqdn: 'ten.corp.example.com', site: 'dublin', aliases },
  })
  if (added.status !== 201) throw new Error(`pool add: ${JSON.stringify(added.body)}`)
  const before = await modifies()
  const enabled = await system.api('POST', '/v1/topology/enable')
  if (enabled.status !== 200) throw new Error(`enable: ${JSON.stringify(enabled.body)}`)
  const wanted = ['http/ten.corp.example.com', ...aliases.map((a) => `http/${a}`)]
  const deadline = Date.now() + 60_000
  for (;;) {
    const spns = (await system.spnsOf('KERBWEB$')).map((x) => x.toLowerCase())
    if (wanted.every((w) => spns.includes(w))) break
    if (Date.now() > deadline) throw new Error('the 10 SPNs never appeared')
    await new Promise((r) => setTimeout(r, 20))
  }
  const writes = (await modifies()) - before
  return {
    group: 'e2e',
    name: 'LDAP modify operations for one enable adding 10 SPNs to one account',
    n: 1,
    value: writes,
    unit: 'modifies',
    note: `spn-sync's krbfleet_ldap_operation_seconds_count; goal 1: ${writes === 1 ? 'met' : 'MISSED'}`,
  }
}
