import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { chmod, copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { allDebianPackages, aptInstallLine, requireCommands } from '../src/index.ts'

const run = promisify(execFile)
const repo = join(import.meta.dirname, '..', '..', '..')

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

test('not root: a missing command stops with the exact apt-get line and installs nothing', async () => {
  await assert.rejects(requireCommands(['krbfleet-no-such-tool'], { asRoot: false }), (err: Error) => {
    assert.match(err.message, /missing krbfleet-no-such-tool; install them as root with:/)
    assert.ok(err.message.includes(aptInstallLine), err.message)
    return true
  })
})

// Run as `nobody` from a world-readable copy: the clone itself may sit in a folder only root may
// enter (mktemp -d makes 0700 folders), and the script must need nothing but bash and dpkg.
test('deploy/setup.sh as a user who is not root: all present -> ok; it never needs node_modules', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'krbfleet-setup-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  await chmod(dir, 0o755)
  for (const file of ['setup.sh', 'debian-packages.txt']) {
    await copyFile(join(repo, 'deploy', file), join(dir, file))
    await chmod(join(dir, file), 0o644)
  }
  const { stdout } = await run(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', join(dir, 'setup.sh')],
    {
      cwd: dir,
    },
  )
  assert.match(stdout, new RegExp(`setup: all ${allDebianPackages.length} Debian packages present`))
})
