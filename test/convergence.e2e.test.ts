/**
 * Convergence, property-based, on the whole system: fast-check drives random operator sessions
 * through the console API (pools added, changed and removed, sites moved between two accounts,
 * enables), and after each session AD must hold, on each account, exactly the SPNs an independent
 * model of the enabled topology asks for (the rules of issue 5, re-stated here, not imported), and
 * spn-sync must own exactly those. Refused requests must leave the draft unchanged.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { accountKey, buckets } from '@krbfleet/contracts'
import fc from 'fast-check'
import { type System, startSystem, tail } from './support/system.ts'

const accounts = {
  A: { id: 'CORP\\KPROPA', sam: 'KPROPA$' },
  B: { id: 'CORP\\KPROPB', sam: 'KPROPB$' },
} as const
type AccountName = keyof typeof accounts
const sites = ['north', 'south', 'east'] as const
type SiteName = (typeof sites)[number]

interface ModelPool {
  site: SiteName
  loadBalancer: boolean
  aliases: number[]
  shortNameSpns: boolean
}
interface Model {
  pools: Map<number, ModelPool>
  assignments: Record<SiteName, AccountName>
}

const fqdn = (pool: number) => `prop${pool}.corp.example.com`
const lbName = (pool: number) => `prop${pool}-lb.corp.example.com`
// Alias names belong to one pool, so two pools never ask for the same SPN.
const aliasName = (pool: number, alias: number) => `prop${pool}-alias${alias}.corp.example.com`

/** Issue 5's desired state: HTTP/<every name of every web pool of every site of the account>, short names on request. */
function expectedSpns(model: Model, account: AccountName): string[] {
  const out = new Set<string>()
  for (const [id, pool] of model.pools) {
    if (model.assignments[pool.site] !== account) continue
    const names = [
      fqdn(id),
      ...(pool.loadBalancer ? [lbName(id)] : []),
      ...pool.aliases.map((a) => aliasName(id, a)),
    ]
    for (const name of names) {
      out.add(`HTTP/${name}`)
      if (pool.shortNameSpns) out.add(`HTTP/${name.split('.')[0]}`)
    }
  }
  return [...out].sort()
}

type Command =
  | {
      kind: 'addPool'
      pool: number
      site: SiteName
      loadBalancer: boolean
      aliases: number[]
      shortNameSpns: boolean
    }
  | { kind: 'setPool'; pool: number; loadBalancer: boolean; aliases: number[]; shortNameSpns: boolean }
  | { kind: 'removePool'; pool: number }
  | { kind: 'moveSite'; site: SiteName; account: AccountName }

const poolId = fc.integer({ min: 0, max: 5 })
const aliasList = fc.uniqueArray(fc.integer({ min: 0, max: 2 }), { maxLength: 3 }).map((a) => a.sort())
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    kind: fc.constant('addPool' as const),
    pool: poolId,
    site: fc.constantFrom(...sites),
    loadBalancer: fc.boolean(),
    aliases: aliasList,
    shortNameSpns: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('setPool' as const),
    pool: poolId,
    loadBalancer: fc.boolean(),
    aliases: aliasList,
    shortNameSpns: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('removePool' as const), pool: poolId }),
  fc.record({
    kind: fc.constant('moveSite' as const),
    site: fc.constantFrom(...sites),
    account: fc.constantFrom('A', 'B'),
  }),
)

describe('convergence: random operator sessions through the API, then AD equals the model', {
  timeout: 600_000,
}, () => {
  let system: System
  const model: Model = { pools: new Map(), assignments: { north: 'A', south: 'B', east: 'A' } }
  let enabledModel: Model = { pools: new Map(), assignments: { ...model.assignments } }

  const call = async (method: string, path: string, body?: unknown) =>
    await system.api<{ error?: { code: string } }>(method, path, body === undefined ? {} : { body })

  before(async () => {
    // One scripted operator sends hundreds of requests a second here, far past what a person sends:
    // the budget is raised so that the property is about convergence, not about rate limiting
    // (which services/console/test/rate-limit.test.ts covers).
    system = await startSystem({ consoleRateLimit: { max: 100_000, anonymousMax: 20, windowSeconds: 5 } })
    for (const account of Object.values(accounts)) {
      assert.equal((await call('POST', '/v1/accounts', { account: account.id })).status, 201)
    }
    for (const site of sites) {
      assert.equal((await call('POST', '/v1/sites', { name: site })).status, 201)
      const account = accounts[model.assignments[site]].id
      assert.equal((await call('POST', '/v1/assignments', { site, account })).status, 201)
    }
  })
  after(async () => {
    await system?.stop()
  })

  /** Applies one command through the API; the model follows only what the system accepted. */
  async function apply(cmd: Command): Promise<void> {
    const fields = (c: {
      loadBalancer: boolean
      aliases: number[]
      shortNameSpns: boolean
      pool: number
    }) => ({
      loadBalancerNames: c.loadBalancer ? [lbName(c.pool)] : [],
      aliases: c.aliases.map((a) => aliasName(c.pool, a)),
      shortNameSpns: c.shortNameSpns,
    })
    let result: Awaited<ReturnType<typeof call>>
    switch (cmd.kind) {
      case 'addPool':
        result = await call('POST', '/v1/pools', { fqdn: fqdn(cmd.pool), site: cmd.site, ...fields(cmd) })
        if (result.status === 201) {
          model.pools.set(cmd.pool, {
            site: cmd.site,
            loadBalancer: cmd.loadBalancer,
            aliases: cmd.aliases,
            shortNameSpns: cmd.shortNameSpns,
          })
        } else {
          assert.ok(model.pools.has(cmd.pool), `add of a new pool refused: ${JSON.stringify(result.body)}`)
          assert.equal(result.body.error?.code, 'already_exists')
        }
        return
      case 'setPool':
        result = await call('PATCH', `/v1/pools/${fqdn(cmd.pool)}`, fields(cmd))
        if (result.status === 200) {
          const pool = model.pools.get(cmd.pool)
          assert.ok(pool, 'a change of a missing pool was accepted')
          model.pools.set(cmd.pool, {
            ...pool,
            loadBalancer: cmd.loadBalancer,
            aliases: cmd.aliases,
            shortNameSpns: cmd.shortNameSpns,
          })
        } else {
          assert.equal(model.pools.has(cmd.pool), false, `change refused: ${JSON.stringify(result.body)}`)
          assert.equal(result.status, 404)
        }
        return
      case 'removePool':
        result = await call('DELETE', `/v1/pools/${fqdn(cmd.pool)}?force=true`)
        if (result.status === 200) {
          assert.ok(model.pools.delete(cmd.pool), 'a removal of a missing pool was accepted')
        } else {
          assert.equal(model.pools.has(cmd.pool), false, `removal refused: ${JSON.stringify(result.body)}`)
          assert.equal(result.status, 404)
        }
        return
      case 'moveSite':
        result = await call('PUT', `/v1/assignments/${cmd.site}`, { account: accounts[cmd.account].id })
        assert.equal(result.status, 200, JSON.stringify(result.body))
        model.assignments[cmd.site] = cmd.account
        return
    }
  }

  async function converged(what: string): Promise<void> {
    const matches = async () => {
      for (const name of Object.keys(accounts) as AccountName[]) {
        const actual = await system.spnsOf(accounts[name].sam)
        if (JSON.stringify(actual) !== JSON.stringify(expectedSpns(enabledModel, name))) return false
      }
      return true
    }
    await system.eventually(matches, what).catch(async (err) => {
      const lines = []
      for (const name of Object.keys(accounts) as AccountName[]) {
        lines.push(`${name} AD:     ${(await system.spnsOf(accounts[name].sam)).join(' ')}`)
        lines.push(`${name} wanted: ${expectedSpns(enabledModel, name).join(' ')}`)
      }
      assert.fail(`${(err as Error).message}\n${lines.join('\n')}\n${await tail(system.spnSyncLog)}`)
    })
    const kv = await system.bus.kv(buckets.spnOwnership)
    for (const name of Object.keys(accounts) as AccountName[]) {
      await system.eventually(async () => {
        const entry = await kv.get(accountKey(accounts[name].id))
        const record = entry?.operation === 'PUT' ? entry.json<{ spns: string[]; pending: unknown }>() : null
        const owned = record ? [...record.spns].sort() : []
        return (
          (record?.pending ?? null) === null &&
          JSON.stringify(owned) === JSON.stringify(expectedSpns(enabledModel, name))
        )
      }, `spn-sync owns exactly the SPNs of ${name}`)
    }
  }

  it('after every random session and enable, each account holds exactly the modelled SPNs', async () => {
    let sessions = 0
    /** Sessions that ended with SPNs on each account: the property must have had something to check. */
    const nonEmpty = { A: 0, B: 0 }
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 8 }), async (commands) => {
        sessions += 1
        for (const cmd of commands) await apply(cmd)
        const enabled = await call('POST', '/v1/topology/enable')
        assert.equal(enabled.status, 200, JSON.stringify(enabled.body))
        enabledModel = {
          pools: new Map([...model.pools].map(([k, v]) => [k, { ...v, aliases: [...v.aliases] }])),
          assignments: { ...model.assignments },
        }
        await converged(`session ${sessions}: ${JSON.stringify(commands)}`)
        for (const name of ['A', 'B'] as const)
          if (expectedSpns(enabledModel, name).length > 0) nonEmpty[name] += 1
      }),
      // Each run changes the one live system: no shrinking (it would replay against a moved state).
      // A fixed seed makes the sessions reproducible and the nonEmpty check below deterministic
      // (with random seeds about 1 in 2000 runs had too few sessions with SPNs on one account; seed
      // 42 gives 29 for each); the system's answers and AD are still checked on every session.
      { numRuns: 40, endOnFailure: true, seed: 42 },
    )
    assert.equal(sessions, 40)
    assert.ok(nonEmpty.A > 5 && nonEmpty.B > 5, `too few sessions with SPNs: ${JSON.stringify(nonEmpty)}`)
  })
})
