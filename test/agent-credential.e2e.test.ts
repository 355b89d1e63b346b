/**
 * The missing half, end to end: a web server gets its pool's key through its agent. The whole
 * system (topology, account with its signing key, spn-sync, console) against one nats-server and
 * one Samba AD DC; the real agent process (services/iis-agent/src/main.ts, keytab backend) on
 * "fe01"; a real Apache with mod_auth_gssapi reading the agent's keytab. Nothing is handed to the
 * agent by the test: it enrols, the account service seals and retains the credential, the agent
 * installs it. Apache answers 401 before and 200 after to `curl --negotiate` for HTTP/<pool>; the
 * agent SIGKILLed while the password is reset converges to the new kvno on restart; the server
 * leaving the topology revokes the key (401 again).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { AgentHeartbeat, CredentialApplied, CredentialRemoved, type EventEnvelope } from '@krbfleet/contracts'
import { createUser, strongPassword } from '@krbfleet/testing'
import { type System, startSystem } from './support/system.ts'
import { login as loginAs, startWebServer, type WebServer } from './support/web-servers.ts'

const run = promisify(execFile)
const ACCOUNT = 'CORP\\KERBAGENT'
const SAM = 'KERBAGENT$'
const POOL = 'pool01.corp.example.com'
const SERVER = 'fe01.corp.example.com'

describe('a web server gets its pool key through its agent', { timeout: 600_000 }, () => {
  let system: System
  let fe01: WebServer
  const userPassword = strongPassword()
  const login = (name: string) => loginAs(system, name, 'alice', userPassword)
  const negotiate = (name: string) => fe01.negotiate(name)
  const ofType = async (type: string): Promise<EventEnvelope[]> =>
    (await system.events()).filter((e) => e.type === type)
  const keytabKvnos = () => fe01.kvnos()
  const agentFailed = () => `agent ${fe01.running() ? 'running' : 'stopped'}: ${fe01.output().slice(-3000)}`

  before(async () => {
    system = await startSystem()
    fe01 = await startWebServer(system, SERVER, POOL)
    await createUser(system.dc, 'alice', userPassword)
    const { cli } = system
    await cli(['account', 'new', ACCOUNT])
    await cli(['site', 'add', 'paris'])
    await cli(['pool', 'add', POOL, '--site', 'paris'])
    await cli(['server', 'add', SERVER, '--pool', POOL, '--backend', 'keytab'])
    await cli(['assignment', 'new', 'paris', ACCOUNT])
    await cli(['topology', 'enable'])
    await system.eventually(
      async () => (await system.spnsOf(SAM)).includes(`HTTP/${POOL}`),
      'the pool SPN in AD',
    )
  })
  after(async () => {
    await fe01?.close()
    await system?.stop()
  })

  it('401 before the agent; it enrols, installs the credential the account service issued, and Apache answers 200', async () => {
    await login('first')
    assert.equal(await negotiate('first'), 401, 'no key on the web server yet')

    // The operator issues fe01's one-time enrolment token (krbfleet agent token, through the CLI)
    // and puts it where the agent reads it.
    await fe01.start({ enrol: true })
    const { stdout } = await run('getent', ['group', 'www-data'])
    const gid = Number(stdout.split(':')[2])
    const kvno = await system.kvnoOf(SAM)
    await system.eventually(
      async () => (await negotiate('first')) === 200,
      `200 for HTTP/${POOL}: ${agentFailed()}`,
    )
    assert.deepEqual(await keytabKvnos(), [kvno])
    const mode = await stat(fe01.keytab)
    assert.equal(mode.mode & 0o777, 0o640)
    assert.equal(mode.gid, gid, 'readable by the web server group')

    // The report follows the install: wait for it, then check it is the only one.
    await system.eventually(
      async () => (await ofType(CredentialApplied.type)).length > 0,
      'CredentialApplied',
    )
    const applied = await ofType(CredentialApplied.type)
    assert.deepEqual(
      applied.map((e) => [e.data, e.actor]),
      [[{ server: SERVER, account: ACCOUNT, kvno, held: [{ account: ACCOUNT, kvno }] }, `agent:${SERVER}`]],
    )
    // The heartbeat shows what the server holds and that the KDC accepted the key (kinit -k).
    await system.eventually(
      async () =>
        (await ofType(AgentHeartbeat.type)).some(
          (e) =>
            JSON.stringify(e.data) ===
            JSON.stringify({
              server: SERVER,
              backend: 'keytab',
              kvnos: [{ account: ACCOUNT, kvno }],
              health: { ok: true },
            }),
        ),
      'a heartbeat with the kvno and a healthy backend',
    )
    // `krbfleet agent list`: enrolled, the kvno held is AD's, healthy; as JSON and as a table.
    type Row = { server: string; enrolled: boolean; kvnos: unknown[]; adKvno: number; current: boolean }
    const listed = async () =>
      (JSON.parse((await system.cli(['agent', 'list', '--json'], 'viewer')).stdout) as { agents: Row[] })
        .agents
    await system.eventually(
      async () => (await listed()).some((a) => a.server === SERVER && a.current),
      'agent list shows fe01 current',
    )
    const [row] = await listed()
    assert.equal(row?.enrolled, true)
    assert.deepEqual(row?.kvnos, [{ account: ACCOUNT, kvno }])
    assert.equal(row?.adKvno, kvno)
    assert.deepEqual((row as unknown as { health: unknown }).health, { ok: true })
    assert.match(
      (row as unknown as { lastApplied: { kvno: number } }).lastApplied.kvno.toString(),
      new RegExp(`^${kvno}$`),
    )
    const human = (await system.cli(['agent', 'list'], 'viewer')).stdout
    assert.match(human, /SERVER\s+SITE\s+BACKEND\s+ENROLLED\s+LAST HEARTBEAT\s+KVNOS\s+AD KVNO\s+HEALTH/)
    assert.match(
      human,
      new RegExp(`fe01\\.corp\\.example\\.com\\s+paris\\s+keytab\\s+yes\\s+\\S+\\s+${kvno}\\s+${kvno}\\s+ok`),
    )
  })

  it('SIGKILLed while the password is reset, the agent converges to the new kvno on restart; old and new tickets work', async () => {
    const before = await system.kvnoOf(SAM)
    await fe01.stop('SIGKILL')
    const reset = await system.api<{ kvno: number }>('POST', '/v1/accounts/CORP.KERBAGENT/password-reset', {
      role: 'operator',
    })
    assert.equal(reset.status, 200, JSON.stringify(reset.body))
    assert.equal(reset.body.kvno, before + 1)
    await login('second')
    assert.equal(await negotiate('second'), 401, 'a ticket of the new kvno while the agent is down')

    await fe01.start()
    await system.eventually(
      async () => (await negotiate('second')) === 200,
      `the new kvno installed: ${agentFailed()}`,
    )
    assert.equal(await negotiate('first'), 200, 'a ticket of the previous kvno is still accepted')
    assert.deepEqual(await keytabKvnos(), [before, before + 1])
    await system.eventually(
      async () => (await ofType(CredentialApplied.type)).length >= 2,
      'CredentialApplied for the new kvno',
    )
    assert.deepEqual(
      (await ofType(CredentialApplied.type)).map((e) => (e.data as { kvno: number }).kvno),
      [before, before + 1],
    )
    // While the agent was down the list showed it behind AD; now it holds both and is current.
    await system.eventually(async () => {
      const { agents } = JSON.parse((await system.cli(['agent', 'list', '--json'])).stdout) as {
        agents: Array<{ kvnos: Array<{ kvno: number }>; adKvno: number; current: boolean }>
      }
      return agents[0]?.current === true && agents[0].adKvno === before + 1 && agents[0].kvnos.length === 2
    }, 'agent list: fe01 current at the new kvno, the previous one still held')
  })

  it('the server leaves the topology: its credential is revoked, the agent removes the key and reports it', async () => {
    await system.cli(['server', 'remove', SERVER])
    await system.cli(['topology', 'enable'])
    await system.eventually(
      async () => (await keytabKvnos()).length === 0,
      `the keys removed: ${agentFailed()}`,
    )
    await login('third')
    assert.equal(await negotiate('third'), 401)
    await system.eventually(
      async () =>
        (await ofType(CredentialRemoved.type)).some(
          (e) => JSON.stringify(e.data) === JSON.stringify({ server: SERVER, account: ACCOUNT }),
        ),
      'CredentialRemoved',
    )
    const exit = await fe01.stop('SIGTERM')
    assert.equal(exit, 0, fe01.output().slice(-2000))
    // No secret in what the agent printed, nor in the events.
    const { password } = await system.accountSecret(ACCOUNT)
    assert.ok(!fe01.output().includes(password), 'no password in the agent log')
    assert.ok(!JSON.stringify(await system.events()).includes(password), 'no password in events')
    assert.ok(!(await system.streamText('KV_krbfleet-credentials')).includes(password), 'none in the bucket')
    assert.ok(!(await readFile(join(fe01.stateDir, 'keytab-accounts.json'), 'utf8')).includes(password))
  })
})
