import assert from 'node:assert/strict'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Bus, KV } from '@krbfleet/bus'
import {
  type AccountChange,
  agentToken,
  accountOperations as Op,
  buckets,
  CredentialPayload,
  credentialContext,
  IssuedCredential,
} from '@krbfleet/contracts'
import { importAccountKeys, writeKeytabFile } from '@krbfleet/kerberos'
import { generateAgentKeyPair, generateSignerKeyPair, openSealed } from '@krbfleet/sealing'
import { kerberosEnv, type NatsServer, type TestDc } from '@krbfleet/testing'
import { startWorld, type World } from '@krbfleet/testing/world'
import { type RunningAccountService, startAccountService } from '../src/start.ts'
import { caller, enablePool, LogCapture, newKek, run, settingsFor } from './helpers.ts'

/**
 * The account service issues each web server the credential of its site's account, against a real
 * NATS server and a real DC: sealed to the agent's enrolled key, signed, retained in the credentials
 * bucket; the agent's private key opens it, the keys in it get a ticket from the KDC (kinit -k),
 * another agent's key does not open it; a password reset reissues it; a site that loses its
 * assignment has its servers' credentials revoked. Issuing runs in the service's own sweep.
 */
describe('credentials issued to agents', { timeout: 300_000 }, () => {
  let world: World
  let dc: TestDc
  let nats: NatsServer
  let bus: Bus
  let credentials: KV
  let service: RunningAccountService
  let work: string
  const kek = newKek()
  const signer = generateSignerKeyPair()
  const agents = { web01: generateAgentKeyPair(), web02: generateAgentKeyPair() }
  const logs = new LogCapture()

  const enable = async (assigned: boolean) => {
    await enablePool(
      bus,
      [
        { fqdn: 'web01.corp.example.com', backend: 'keytab', agentKey: agents.web01.publicKey },
        { fqdn: 'web02.corp.example.com', backend: 'iis', agentKey: agents.web02.publicKey },
      ],
      assigned ? 'CORP\\WEBCRED' : undefined,
    )
  }
  const issuedTo = async (server: string) => {
    const entry = await credentials.get(agentToken(server))
    return entry?.operation === 'PUT' ? IssuedCredential.decode(entry.json()) : null
  }
  const open = (credential: IssuedCredential, key: (typeof agents)['web01']) =>
    CredentialPayload.decode(
      openSealed(credential.sealed, {
        recipientPrivateKey: key.privateKey,
        signerPublicKey: signer.publicKey,
        context: credentialContext(credential.server, credential.account, credential.kvno, credential.phase),
      }),
    )
  const eventually = async (what: string, condition: () => Promise<boolean>) => {
    for (let i = 0; i < 300; i++) {
      if (await condition()) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.fail(`never happened: ${what}`)
  }

  before(async () => {
    world = await startWorld({ name: 'credentials-test' })
    ;({ dc, nats, bus } = world)
    work = await mkdtemp(join(tmpdir(), 'krbfleet-credentials-'))
    credentials = await bus.kv(buckets.credentials)
    service = await startAccountService({
      settings: {
        ...settingsFor(dc, nats, kek.key),
        signer: { privateKey: signer.privateKey, keyId: signer.keyId },
        pendingSweepMs: 200,
      },
      logger: logs.logger(),
    })
  })
  after(async () => {
    await service?.stop()
    await world?.stop()
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('each server gets the account key sealed to its own agent; the keys get a ticket; the password only where the backend needs it', async () => {
    const created = await caller(bus)<AccountChange>(Op.create, { account: 'CORP\\WEBCRED' })
    await enable(true)
    await eventually('both servers hold a credential', async () =>
      Boolean((await issuedTo('web01.corp.example.com')) && (await issuedTo('web02.corp.example.com'))),
    )
    const web01 = (await issuedTo('web01.corp.example.com'))!
    assert.equal(web01.kvno, created.kvno)
    assert.equal(web01.account, 'CORP\\WEBCRED')
    const payload = open(web01, agents.web01)
    assert.equal(payload.principal, 'WEBCRED$@CORP.EXAMPLE.COM')
    assert.deepEqual(payload.keys.map((k) => k.enctype).sort(), [17, 18])
    assert.equal(payload.password, undefined, 'a keytab server gets no password')
    assert.ok(open((await issuedTo('web02.corp.example.com'))!, agents.web02).password, 'an iis server does')
    assert.throws(() => open(web01, agents.web02), 'another agent key does not open it')
    assert.ok(
      !JSON.stringify(await credentials.get(agentToken('web01.corp.example.com'))).includes(
        payload.keys[0]!.key,
      ),
    )

    const keytab = join(work, 'web01.keytab')
    await writeKeytabFile(keytab, importAccountKeys(payload))
    await chmod(keytab, 0o600)
    await run('kinit', ['-k', '-t', keytab, 'WEBCRED$'], {
      env: { ...process.env, ...kerberosEnv(dc), KRB5CCNAME: `FILE:${join(work, 'cc')}` },
    })
  })

  it('a password reset reissues every server at the new kvno; a site that loses its assignment is revoked', async () => {
    const reset = await caller(bus)<AccountChange>(Op.passwordReset, { account: 'CORP\\WEBCRED' })
    await eventually(
      'reissued at the new kvno',
      async () => (await issuedTo('web01.corp.example.com'))?.kvno === reset.kvno,
    )
    await eventually(
      'both at the new kvno',
      async () => (await issuedTo('web02.corp.example.com'))?.kvno === reset.kvno,
    )
    await enable(false)
    await eventually(
      'revoked',
      async () =>
        (await issuedTo('web01.corp.example.com')) === null &&
        (await issuedTo('web02.corp.example.com')) === null,
    )
    const text = logs.text()
    assert.match(text, /credential revoked/)
    assert.doesNotMatch(text, /"password"|"key":/)
  })
})
