import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AccountTurns } from '../src/account-turns.ts'
import { AccountBusyError } from '../src/index.ts'

/** A run that finishes when the test says so, and records when it started. */
function gate(log: string[], name: string) {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return {
    open,
    work: async () => {
      log.push(`${name} started`)
      await opened
      log.push(`${name} done`)
      return name
    },
  }
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('account turns (runs of one account in one process)', () => {
  it('given a run of an account, when another run of it is asked, then it starts once the first is done', async () => {
    const turns = new AccountTurns()
    const log: string[] = []
    const first = gate(log, 'first')
    const second = gate(log, 'second')
    const a = turns.inTurn('CORP\\A', first.work)
    const b = turns.inTurn('CORP\\A', second.work)
    await tick()
    assert.deepEqual(log, ['first started'])
    first.open()
    second.open()
    assert.deepEqual(await Promise.all([a, b]), ['first', 'second'])
    assert.deepEqual(log, ['first started', 'first done', 'second started', 'second done'])
  })

  it('given a run of one account, when another account is asked, then it runs at the same time', async () => {
    const turns = new AccountTurns()
    const log: string[] = []
    const a = gate(log, 'a')
    const b = gate(log, 'b')
    const runs = [turns.inTurn('CORP\\A', a.work), turns.inTurn('CORP\\B', b.work)]
    await tick()
    assert.deepEqual(log, ['a started', 'b started'])
    a.open()
    b.open()
    await Promise.all(runs)
  })

  it('given a run that fails, when the next run of the account is asked, then it still runs', async () => {
    const turns = new AccountTurns()
    const failed = turns.inTurn('CORP\\A', async () => {
      throw new Error('boom')
    })
    await assert.rejects(failed, /boom/)
    assert.equal(await turns.inTurn('CORP\\A', async () => 'next'), 'next')
  })

  it('given a run of an account, when it is asked "now", then it is busy; once done, it runs', async () => {
    const turns = new AccountTurns()
    const log: string[] = []
    const first = gate(log, 'first')
    const running = turns.inTurn('CORP\\A', first.work)
    await assert.rejects(
      turns.now('CORP\\A', async () => 'never'),
      (err: unknown) => err instanceof AccountBusyError && err.account === 'CORP\\A',
    )
    assert.equal(await turns.now('CORP\\B', async () => 'other account'), 'other account')
    first.open()
    await running
    await tick()
    assert.equal(await turns.now('CORP\\A', async () => 'free again'), 'free again')
  })
})
