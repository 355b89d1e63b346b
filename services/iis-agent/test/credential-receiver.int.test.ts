import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { KV } from '@krbfleet/bus'
import {
  agentToken,
  buckets,
  CredentialApplied,
  CredentialApplyFailed,
  CredentialRemoved,
  CredentialStaged,
  type IssuedCredential,
  subjects,
} from '@krbfleet/contracts'
import { readKeytabFile } from '@krbfleet/kerberos'
import { silentLogger } from '@krbfleet/logging'
import {
  type AgentKeyPair,
  generateAgentKeyPair,
  generateSignerKeyPair,
  type SignerKeyPair,
} from '@krbfleet/sealing'
import { startNatsWorld, type NatsWorld } from '@krbfleet/testing/world'
import { keytabBackend, keytabStatePath } from '../src/adapters/keytab/keytab-backend.ts'
import { type CredentialReceiver, startCredentialReceiver } from '../src/credentials/receiver.ts'
import { issueCredential, storedEvents } from './helpers.ts'

const server = 'fe01.corp.example.com'
const accountA = 'CORP\\KERBAUTH'
const accountB = 'CORP\\KERBNEXT'

/**
 * The credential receiver against a real nats-server: what the account service retains in the
 * credentials bucket is installed in a real keytab (the keytab backend, no KDC here), and every
 * hostile or broken credential is rejected, reported once and never installed, while the keytab
 * keeps what it held. The assertions read the keytab file and the events stream.
 */
describe('credential receiver', { timeout: 120_000 }, () => {
  let world: NatsWorld
  let work: string
  let keytab: string
  let bucket: KV
  let receiver: CredentialReceiver
  const agentKey = generateAgentKeyPair()
  const signer = generateSignerKeyPair()

  const issue = (options: {
    account?: string
    kvno: number
    to?: AgentKeyPair
    by?: SignerKeyPair
    forServer?: string
    badKey?: boolean
    phase?: 'staged' | 'active'
    keep?: number[]
    rotationId?: string
  }): IssuedCredential =>
    issueCredential({
      server: options.forServer ?? server,
      account: options.account ?? accountA,
      kvno: options.kvno,
      ...(options.phase ? { phase: options.phase } : {}),
      ...(options.keep ? { keep: options.keep } : {}),
      ...(options.rotationId ? { rotationId: options.rotationId } : {}),
      to: options.to ?? agentKey,
      by: options.by ?? signer,
      ...(options.badKey ? { badKey: true } : {}),
    })
  const retain = async (value: IssuedCredential | string) => {
    await bucket.put(agentToken(server), typeof value === 'string' ? value : JSON.stringify(value))
    await receiver.refresh()
  }
  const keytabKvnos = async () => {
    const entries = await readKeytabFile(keytab).catch(() => [])
    return [...new Set(entries.map((e) => `${e.principal.components.join('/')}@${e.kvno}`))].sort()
  }
  /** An install report's data: the kvno installed and every kvno the server then holds (newest first). */
  const installed = (account: string, kvno: number, held: number[]) => ({
    server,
    account,
    kvno,
    held: held.map((k) => ({ account, kvno: k })),
  })
  /** Changes of what the server holds that no report said (each one an out-of-turn heartbeat). */
  let unreported = 0
  const agentEvents = () => storedEvents(world.bus, 'krbfleet.agent.Credential')
  const lastEvent = async () => (await agentEvents()).at(-1)

  before(async () => {
    world = await startNatsWorld({ name: 'receiver-test' })
    work = await mkdtemp(join(tmpdir(), 'krbfleet-receiver-'))
    keytab = join(work, 'keytab', 'http.keytab')
    bucket = await world.bus.kv(buckets.credentials)
    receiver = startCredentialReceiver({
      bus: world.bus,
      logger: silentLogger(),
      server,
      key: agentKey,
      signer: signer.publicKey,
      backend: keytabBackend({
        path: keytab,
        statePath: keytabStatePath(join(work, 'state')),
        logger: silentLogger(),
      }),
      refreshIntervalMs: 3_600_000,
      onHeldChanged: () => {
        unreported++
      },
    })
  })
  after(async () => {
    await receiver?.stop()
    await world?.stop()
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('installs nothing before a credential is issued, then the retained one, then a newer one beside it', async () => {
    await receiver.refresh()
    assert.deepEqual(await keytabKvnos(), [])
    assert.deepEqual(receiver.held(), [])

    await retain(issue({ kvno: 3 }))
    assert.deepEqual(await keytabKvnos(), ['KERBAUTH$@3'])
    assert.deepEqual(receiver.held(), [{ account: accountA, kvno: 3 }])
    const applied = await lastEvent()
    assert.equal(applied?.type, CredentialApplied.type)
    assert.deepEqual(
      applied?.data,
      installed(accountA, 3, [3]),
      'the report says what the server holds now (no heartbeat needs to follow it)',
    )
    assert.equal(applied?.actor, `agent:${server}`)

    await retain(issue({ kvno: 4, keep: [3] }))
    assert.deepEqual(
      await keytabKvnos(),
      ['KERBAUTH$@3', 'KERBAUTH$@4'],
      'the previous kvno stays beside the new one while the credential keeps it',
    )
    assert.deepEqual((await lastEvent())?.data, installed(accountA, 4, [4, 3]))

    await retain(issue({ kvno: 5, keep: [4] }))
    assert.deepEqual(await keytabKvnos(), ['KERBAUTH$@4', 'KERBAUTH$@5'], 'kvno 3 is no longer kept: it goes')
    assert.deepEqual(receiver.health(), { ok: true })
  })

  it('rejects, reports once and never installs a replayed kvno, another signer, another key, another server, bad keys or garbage', async () => {
    const other = generateAgentKeyPair()
    const cases: Array<{ credential: IssuedCredential | string; reason: RegExp; kvno?: number }> = [
      {
        credential: issue({ kvno: 4 }),
        reason: /kvno 4 of CORP\\KERBAUTH is older than the active kvno 5/,
        kvno: 4,
      },
      {
        credential: issue({ kvno: 6, by: generateSignerKeyPair() }),
        reason: /not a trusted signer/,
        kvno: 6,
      },
      { credential: issue({ kvno: 6, to: other }), reason: /sealed to key .* not this agent's key/, kvno: 6 },
      {
        credential: issue({ kvno: 6, forServer: 'fe02.corp.example.com' }),
        reason: /for fe02\.corp\.example\.com, not fe01\.corp\.example\.com/,
        kvno: 6,
      },
      { credential: '{"server": "fe01.corp.example.com", "kvno": "six"}', reason: /malformed/ },
      { credential: '\u0000\u0001 not json', reason: /malformed/ },
    ]
    for (const { credential, reason, kvno } of cases) {
      const before = (await agentEvents()).length
      await retain(credential)
      // Refreshing again does not retry it: the same message is settled.
      await receiver.refresh()
      await receiver.refresh()
      const events = (await agentEvents()).slice(before)
      assert.equal(events.length, 1, `one report for ${reason}`)
      assert.equal(events[0]?.type, CredentialApplyFailed.type)
      const data = events[0]?.data as { server: string; kvno?: number; reason: string }
      assert.equal(data.server, server)
      assert.equal(data.kvno, kvno)
      assert.match(data.reason, reason)
      assert.deepEqual(await keytabKvnos(), ['KERBAUTH$@4', 'KERBAUTH$@5'], `nothing installed for ${reason}`)
    }
    // A credential whose keys do not fit their enctype is refused by the backend: reported once,
    // nothing changed.
    const before = (await agentEvents()).length
    await retain(issue({ kvno: 6, badKey: true }))
    await receiver.refresh()
    const failed = (await agentEvents()).slice(before)
    assert.deepEqual(
      failed.map((e) => e.type),
      [CredentialApplyFailed.type],
    )
    assert.match(
      (failed[0]?.data as { reason: string } | undefined)?.reason ?? '',
      /keys\.0\.key.*must be \d+ bytes in base64/,
    )
    assert.deepEqual(await keytabKvnos(), ['KERBAUTH$@4', 'KERBAUTH$@5'])
    // And the next good credential goes in.
    await retain(issue({ kvno: 6, keep: [5] }))
    assert.deepEqual(await keytabKvnos(), ['KERBAUTH$@5', 'KERBAUTH$@6'])
    const events = JSON.stringify(await agentEvents())
    assert.doesNotMatch(events, /password of/, 'no secret in any report')
  })

  it('two phases: a staged kvno goes beside the active one (CredentialStaged), the active one switches (CredentialApplied), an aborted one is dropped, an old one retires', async () => {
    const rotationId = 'rot-20261204T000000-0a1b2c3d'
    const unreportedBefore = unreported
    await retain(issue({ kvno: 7, phase: 'staged', keep: [5], rotationId }))
    assert.deepEqual(
      await keytabKvnos(),
      ['KERBAUTH$@5', 'KERBAUTH$@6', 'KERBAUTH$@7'],
      'staged beside the active 6',
    )
    const staged = await lastEvent()
    assert.equal(staged?.type, CredentialStaged.type)
    assert.deepEqual(staged?.data, installed(accountA, 7, [7, 6, 5]))
    assert.equal(staged?.correlationId, rotationId, "the rotation's id is the report's correlation id")
    assert.deepEqual(
      receiver
        .held()
        .map((h) => `${h.account}@${h.kvno}`)
        .sort(),
      [`${accountA}@5`, `${accountA}@6`, `${accountA}@7`],
    )

    // AD took the password: the active credential of 7 switches; 6 stays for its tickets, 5 retires.
    await retain(issue({ kvno: 7, phase: 'active', keep: [6], rotationId }))
    assert.deepEqual(await keytabKvnos(), ['KERBAUTH$@6', 'KERBAUTH$@7'])
    const applied = await lastEvent()
    assert.equal(applied?.type, CredentialApplied.type)
    assert.deepEqual(applied?.data, installed(accountA, 7, [7, 6]))
    assert.equal(applied?.correlationId, rotationId)
    assert.equal(
      unreported,
      unreportedBefore,
      'both reports said what the server holds: no heartbeat asked for',
    )

    // A next rotation staged, then aborted (AD refused): the active 7 again without 8: 8 goes.
    await retain(issue({ kvno: 8, phase: 'staged', keep: [6] }))
    assert.deepEqual(await keytabKvnos(), ['KERBAUTH$@6', 'KERBAUTH$@7', 'KERBAUTH$@8'])
    const before = (await agentEvents()).length
    await retain(issue({ kvno: 7, phase: 'active', keep: [6] }))
    assert.deepEqual(await keytabKvnos(), ['KERBAUTH$@6', 'KERBAUTH$@7'], 'the staged 8 is dropped')
    // The maximum ticket lifetime of 6 passed: the credential no longer keeps it.
    await retain(issue({ kvno: 7, phase: 'active', keep: [] }))
    assert.deepEqual(await keytabKvnos(), ['KERBAUTH$@7'], 'kvno 6 retired')
    assert.equal((await agentEvents()).length, before, 'dropping and retiring report nothing new')
    assert.equal(unreported, unreportedBefore + 2, 'so each of them asks for a heartbeat')

    // A staged credential relabelled active (outer field changed) does not open.
    const forged = { ...issue({ kvno: 9, phase: 'staged', keep: [] }), phase: 'active' as const }
    await retain(forged)
    const refused = await lastEvent()
    assert.equal(refused?.type, CredentialApplyFailed.type)
    assert.match((refused?.data as { reason: string } | undefined)?.reason ?? '', /does not open/)
    assert.deepEqual(await keytabKvnos(), ['KERBAUTH$@7'])
  })

  it("moves to the site's new account, removing the old one, and removes everything on revocation", async () => {
    await retain(issue({ account: accountB, kvno: 2 }))
    assert.deepEqual(await keytabKvnos(), ['KERBNEXT$@2'])
    const moved = (await agentEvents()).slice(-2)
    assert.deepEqual(
      moved.map((e) => [e.type, e.data]),
      [
        [CredentialApplied.type, installed(accountB, 2, [2])],
        [CredentialRemoved.type, { server, account: accountA }],
      ],
    )

    await bucket.delete(agentToken(server))
    await receiver.refresh()
    assert.deepEqual(await keytabKvnos(), [])
    assert.deepEqual(receiver.held(), [])
    const removed = await lastEvent()
    assert.equal(removed?.type, CredentialRemoved.type)
    assert.deepEqual(removed?.data, { server, account: accountB })
  })

  it('a put it did not wait for is picked up when the bell rings', async () => {
    await bucket.put(agentToken(server), JSON.stringify(issue({ account: accountB, kvno: 3 })))
    world.bus.nc.publish(subjects.agentCredential(server))
    for (let i = 0; i < 100 && receiver.held().length === 0; i++) await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(receiver.held(), [{ account: accountB, kvno: 3 }])
    assert.deepEqual(await keytabKvnos(), ['KERBNEXT$@3'])
  })

  it('a bell announcing a newer put than the one read makes it read again, and after ten reads it takes what it reads', async () => {
    const revision = await bucket.put(
      agentToken(server),
      JSON.stringify(issue({ account: accountB, kvno: 4 })),
    )
    // As if a replica behind had answered: the bell names a sequence the bucket does not hold yet.
    world.bus.nc.publish(subjects.agentCredential(server), String(revision + 5))
    await world.bus.nc.flush()
    await new Promise((r) => setTimeout(r, 150))
    assert.ok(
      !receiver.held().some((h) => h.kvno === 4),
      'not taken at once: the read is older than the bell, it reads again (first after 250 ms)',
    )
    for (let i = 0; i < 300 && !receiver.held().some((h) => h.kvno === 4); i++)
      await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(
      receiver.held(),
      [{ account: accountB, kvno: 4 }],
      'installed once the wait for the replica ended',
    )
  })
})
