import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { allDebianPackages, aptInstallLine, requireCommands } from '../src/index.ts'

const run = promisify(execFile)
const repo = join(import.meta.dirname, '..', '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')

test('the package list is the one of deploy/debian-packages.txt and names every tool the harness runs', () => {
  for (const p of [
    'nats-server',
    'samba-ad-dc',
    'samba-ad-provision',
    'krb5-user',
    'libkrb5-dev',
    'iproute2',
  ]) {
    assert.ok(allDebianPackages.includes(p), `${p} in the list`)
  }
  assert.equal(
    aptInstallLine,
    `apt-get update && apt-get install -y --no-install-recommends ${allDebianPackages.join(' ')}`,
  )
})

test('present commands pass without touching apt', async () => {
  await requireCommands(['nats-server', 'samba', 'kinit'])
})

// As a user who is not root, a missing tool stops with the exact apt-get line (nothing is installed).
test('not root: a missing command stops with the exact apt-get line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'krbfleet-system-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  await chmod(dir, 0o755)
  const script = `import('${join(repo, 'libs/testing/src/index.ts')}').then((m) => m.requireCommands(['krbfleet-no-such-tool']))
    .then(() => { console.log('no error'); process.exit(3) }, (e) => { console.log(e.message); process.exit(0) })`
  const { stdout } = await run(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', node, '-e', script],
    {
      cwd: dir,
    },
  )
  assert.match(stdout, /missing krbfleet-no-such-tool; install them as root with:/)
  assert.ok(stdout.includes(aptInstallLine), stdout)
})

test('deploy/setup.sh as a user who is not root: all present -> ok; it never needs node_modules', async () => {
  const { stdout } = await run('setpriv', [
    '--reuid=65534',
    '--regid=65534',
    '--clear-groups',
    'bash',
    join(repo, 'deploy/setup.sh'),
  ])
  assert.match(stdout, new RegExp(`setup: all ${allDebianPackages.length} Debian packages present`))
})
