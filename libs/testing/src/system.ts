import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { lock, unlock } from './locks.ts'

const run = promisify(execFile)

/** Which Debian package brings each command the harness needs. */
export const debianPackageOf: Record<string, string> = {
  'nats-server': 'nats-server',
  samba: 'samba-ad-dc',
  'samba-tool': 'samba',
  kinit: 'krb5-user',
  klist: 'krb5-user',
  ktutil: 'krb5-user',
  kvno: 'krb5-user',
  ldapsearch: 'ldap-utils',
  apache2: 'apache2',
  curl: 'curl',
  ip: 'iproute2',
}

/**
 * Every Debian package the harness and the lab may need: one list in deploy/debian-packages.txt,
 * shared with deploy/setup.sh (`npm run setup`) and .ci/run.
 */
export const debianPackagesFile = join(import.meta.dirname, '..', '..', '..', 'deploy', 'debian-packages.txt')

export const allDebianPackages = readFileSync(debianPackagesFile, 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'))

export const aptInstallLine = `apt-get update && apt-get install -y --no-install-recommends ${allDebianPackages.join(' ')}`

/** Parallel test processes must not run apt at once (dpkg holds one lock): one installs, the others wait. */
const aptLockDir = join(tmpdir(), 'krbfleet-apt.lock')

async function hasCommand(command: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v "$1" || test -x "/usr/sbin/$1"`, 'sh', command])
    return true
  } catch {
    return false
  }
}

let installing: Promise<void> | undefined

/**
 * Makes sure the commands exist. As root, missing Debian packages are installed through apt;
 * otherwise start-up stops with the exact apt-get line to run.
 */
export async function requireCommands(commands: string[], options: { asRoot?: boolean } = {}): Promise<void> {
  const missing: string[] = []
  for (const command of commands) if (!(await hasCommand(command))) missing.push(command)
  if (missing.length === 0) return
  if (!(options.asRoot ?? process.getuid?.() === 0)) {
    throw new Error(`missing ${missing.join(', ')}; install them as root with:\n  ${aptInstallLine}`)
  }
  installing ??= (async () => {
    await lock(aptLockDir, 15 * 60 * 1000, 'another process installing Debian packages')
    try {
      // Another process may have installed them while we waited for the lock.
      const still: string[] = []
      for (const command of missing) if (!(await hasCommand(command))) still.push(command)
      if (still.length === 0) return
      await run('sh', ['-c', aptInstallLine], {
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        maxBuffer: 64 * 1024 * 1024,
      })
    } finally {
      await unlock(aptLockDir)
    }
  })()
  await installing
  for (const command of missing) {
    if (!(await hasCommand(command))) throw new Error(`${command} is still missing after: ${aptInstallLine}`)
  }
}
