import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type System, startSystem } from './support/system.ts'

/**
 * A desired SPN that another object already holds cannot be written (AD refuses duplicates). The
 * operator must hear it wherever it shows: `topology enable`, `spn plan` and `spn reconcile` exit 1
 * and name the holder, in words and in --json.
 */

const ACCOUNT = 'CORP\\KERBBLOCK'
const TAKEN = 'HTTP/pooltaken.corp.example.com'
const HOLDER = 'CN=SQUATTER,CN=Computers,DC=corp,DC=example,DC=com'

describe('a desired SPN held by another object', { timeout: 300_000 }, () => {
  let system: System
  before(async () => {
    system = await startSystem()
    await system.dc.sambaTool(['computer', 'create', 'SQUATTER'])
    await system.dc.sambaTool(['spn', 'add', TAKEN, 'SQUATTER$'])
  })
  after(async () => {
    await system?.stop()
  })

  const ok = async (args: string[]) => {
    const result = await system.cli(args)
    assert.equal(result.code, 0, `krbfleet ${args.join(' ')}: ${result.stdout}${result.stderr}`)
    return result
  }

  it('topology enable, spn plan and spn reconcile exit 1 and name the holder; the free SPNs are written', async () => {
    await ok(['account', 'new', ACCOUNT])
    await ok(['site', 'add', 'galway'])
    await ok([
      'pool',
      'add',
      'pooltaken.corp.example.com',
      '--site',
      'galway',
      '--load-balancer',
      'lbfree.corp.example.com',
    ])
    await ok([
      'server',
      'add',
      'webt1.corp.example.com',
      '--pool',
      'pooltaken.corp.example.com',
      '--backend',
      'keytab',
    ])
    await ok(['assignment', 'new', 'galway', ACCOUNT])

    const dry = await system.cli(['topology', 'enable', '--dry-run'])
    assert.equal(dry.code, 0, dry.stdout + dry.stderr)
    assert.match(
      dry.stdout,
      /^dry run: enabling would publish the draft as revision 1 \(revision 0 stays enabled until then\); nothing written$/m,
    )
    assert.doesNotMatch(dry.stdout, /enabled revision:/, 'one sentence, not a second contradicting line')

    const enable = await system.cli(['topology', 'enable'])
    assert.equal(enable.code, 1, enable.stdout + enable.stderr)
    assert.match(enable.stdout, /^enabled the draft as revision 1, changing:$/m)
    assert.match(enable.stdout, /1 desired SPN\(s\) blocked, not written to AD/)
    assert.ok(enable.stdout.includes(`${TAKEN} for ${ACCOUNT}: held by ${HOLDER}`), enable.stdout)
    assert.doesNotMatch(enable.stdout, /summary=\{/, 'no raw summary object')

    // The free SPN is written all the same; the taken one stays with its holder.
    await system.eventually(
      async () => (await system.spnsOf('KERBBLOCK$')).includes('HTTP/lbfree.corp.example.com'),
      'the free SPN reaches AD',
    )
    assert.ok(!(await system.spnsOf('KERBBLOCK$')).some((s) => s.toLowerCase() === TAKEN.toLowerCase()))

    const json = await system.cli(['topology', 'enable', '--json'])
    assert.equal(json.code, 1)
    const again = JSON.parse(json.stdout) as {
      enabledRevision: number
      changes: unknown[]
      blocked: unknown[]
    }
    assert.equal(again.enabledRevision, 1, 'enabling the same draft again publishes nothing new')
    assert.deepEqual(again.changes, [])
    assert.deepEqual(again.blocked, [{ account: ACCOUNT, spn: TAKEN, holder: HOLDER }])

    const plan = await system.cli(['spn', 'plan'])
    assert.equal(plan.code, 1, plan.stdout + plan.stderr)
    assert.ok(plan.stdout.includes(`${TAKEN} for ${ACCOUNT}: held by ${HOLDER}`), plan.stdout)

    const reconcile = await system.cli(['spn', 'reconcile'])
    assert.equal(reconcile.code, 1, reconcile.stdout + reconcile.stderr)
    assert.ok(reconcile.stdout.includes(`held by ${HOLDER}`), reconcile.stdout)
  })
})
