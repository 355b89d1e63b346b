import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type CliIo, type CommandModule, changeSummary, runCli, table, UsageError } from '../src/index.ts'

function io(env: Record<string, string> = {}) {
  const out: string[] = []
  const err: string[] = []
  const value: CliIo = {
    env,
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    readStdin: async () => '',
    readFile: async () => '',
  }
  return { value, out: () => out.join(''), err: () => err.join('') }
}

const seen: unknown[] = []
const demo: CommandModule = {
  area: 'demo',
  summary: 'a demo area',
  verbs: {
    echo: {
      summary: 'echo the arguments',
      args: ['FIRST', 'SECOND?'],
      change: true,
      options: { tag: { type: 'string', multiple: true }, loud: { type: 'boolean' } },
      run(ctx) {
        seen.push({ args: ctx.args, options: { ...ctx.options }, dryRun: ctx.dryRun, json: ctx.json })
        ctx.print({ ok: true }, () => 'ok')
        return 0
      },
    },
    fail: {
      summary: 'refuses its own input',
      run() {
        throw new UsageError('FIRST: must be even')
      },
    },
  },
}

test('a verb gets its positionals, options, --dry-run and --json', async () => {
  const t = io()
  const code = await runCli(
    ['demo', 'echo', 'a', '--tag', 'x', '--tag', 'y', '--no-loud', '--dry-run', '--json'],
    t.value,
    [demo],
  )
  assert.equal(code, 0)
  assert.deepEqual(seen.at(-1), {
    args: { FIRST: 'a', SECOND: undefined },
    options: { tag: ['x', 'y'], loud: false, 'dry-run': true, json: true },
    dryRun: true,
    json: true,
  })
  assert.deepEqual(JSON.parse(t.out()), { ok: true })
})

test('usage problems exit 2 with the usage on stderr', async () => {
  for (const argv of [
    [],
    ['x'],
    ['demo'],
    ['demo', 'nope'],
    ['demo', 'echo'],
    ['demo', 'echo', 'a', 'b', 'c'],
    ['demo', 'echo', 'a', '--what'],
    ['demo', 'fail'],
    ['demo', 'echo', 'a', '--tag'],
  ]) {
    const t = io()
    assert.equal(await runCli(argv, t.value, [demo]), 2, argv.join(' '))
    assert.match(t.err(), /usage/, argv.join(' '))
  }
})

test('--help is usage on stdout with exit 0', async () => {
  for (const argv of [['--help'], ['demo', '--help'], ['demo', 'echo', '--help']]) {
    const t = io()
    assert.equal(await runCli(argv, t.value, [demo]), 0)
    assert.match(t.out(), /usage: krbfleet/)
  }
})

test('table and changeSummary', () => {
  assert.equal(
    table(
      [{ a: 'x', b: ['1', '2'] }, { a: 'longer' }],
      [
        ['a', 'A'],
        ['b', 'B'],
      ],
    ),
    'A       B\nx       1,2\nlonger',
  )
  assert.equal(table([], [['a', 'A']]), '(none)')
  assert.equal(
    changeSummary({ dryRun: true, changes: [{ type: 'SiteAdded', data: { site: 'R' } }] }),
    'dry run, nothing written; would record:\n  SiteAdded site=R',
  )
  assert.equal(changeSummary({ dryRun: false, changes: [] }), 'nothing changed')
})
