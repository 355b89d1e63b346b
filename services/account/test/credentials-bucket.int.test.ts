import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type Bus, connectBus, type KV } from '@krbfleet/bus'
import { agentToken, buckets, type IssuedCredential } from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { generateAgentKeyPair, generateSignerKeyPair, seal } from '@krbfleet/sealing'
import { type NatsWorld, startNatsWorld } from '@krbfleet/testing/world'
import { KvCredentialBucket } from '../src/adapters/nats/credentials-bucket.ts'

/**
 * The credentials bucket's list (what every credential run plans from) against a real nats-server:
 * what was there before, this process's own puts and deletes, and another replica's writes all show,
 * each as of its latest revision; a bucket that is not watched any more is read directly.
 */
describe('credentials bucket: the watched copy', { timeout: 60_000 }, () => {
  let world: NatsWorld
  let kv: KV
  let other: Bus
  const sealed = seal(
    { nothing: 'secret' },
    { recipientPublicKey: generateAgentKeyPair().publicKey, signer: generateSignerKeyPair() },
  )
  const credential = (server: string, kvno: number): IssuedCredential => ({
    server,
    account: 'CORP\\KERBAUTH',
    kvno,
    phase: 'active',
    keep: [],
    recipient: 'r'.repeat(22),
    issuedAt: new Date(0).toISOString(),
    sealed,
  })
  /** A credential put by a writer other than the bucket under test (another replica, or before it). */
  const write = (bucket: KV, server: string, kvno: number) =>
    bucket.put(agentToken(server), JSON.stringify(credential(server, kvno)))
  const kvnos = (held: Map<string, IssuedCredential>) =>
    Object.fromEntries([...held].map(([server, c]) => [server, c.kvno]).sort())

  before(async () => {
    world = await startNatsWorld({ name: 'credentials-bucket-test' })
    kv = await world.bus.kv(buckets.credentials)
    other = await connectBus({ servers: world.nats.url, name: 'other-replica', logger: silentLogger() })
  })
  after(async () => {
    await other?.close()
    await world?.stop()
  })

  it('lists what was there, its own writes at once, and another replica’s writes', async () => {
    await write(kv, 'web01.corp.example.com', 3)
    await write(kv, 'web02.corp.example.com', 3)
    await kv.put(agentToken('web09.corp.example.com'), 'not a credential')
    const bucket = new KvCredentialBucket(kv, world.bus, silentLogger())
    try {
      assert.deepEqual(kvnos(await bucket.list()), {
        'web01.corp.example.com': 3,
        'web02.corp.example.com': 3,
      })
      assert.equal(bucket.watched, true, 'answered from the watch once it delivered the bucket')
      await bucket.put(credential('web01.corp.example.com', 4))
      await bucket.delete('web02.corp.example.com')
      assert.deepEqual(kvnos(await bucket.list()), { 'web01.corp.example.com': 4 }, 'own writes at once')

      const otherKv = await other.kv(buckets.credentials)
      await write(otherKv, 'web03.corp.example.com', 7)
      await write(otherKv, 'web01.corp.example.com', 5)
      await otherKv.delete(agentToken('web01.corp.example.com'))
      await write(otherKv, 'web02.corp.example.com', 5)
      const deadline = Date.now() + 10_000
      const wanted = { 'web02.corp.example.com': 5, 'web03.corp.example.com': 7 }
      let seen = kvnos(await bucket.list())
      while (JSON.stringify(seen) !== JSON.stringify(wanted) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20))
        seen = kvnos(await bucket.list())
      }
      assert.deepEqual(seen, wanted, 'the other replica’s put, delete and put, as the watch brings them')
    } finally {
      bucket.close()
    }
  })

  it('reads the bucket itself once its watch is stopped', async () => {
    const bucket = new KvCredentialBucket(kv, world.bus, silentLogger())
    await bucket.list()
    bucket.close()
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(bucket.watched, false)
    await write(kv, 'web04.corp.example.com', 1)
    const deadline = Date.now() + 10_000
    let held = await bucket.list()
    while (!held.has('web04.corp.example.com') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20))
      held = await bucket.list()
    }
    assert.equal(held.get('web04.corp.example.com')?.kvno, 1)
  })
})
