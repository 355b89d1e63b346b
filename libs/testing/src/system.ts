import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

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
  ip: 'iproute2',
}

/** Every package the harness and the lab may need, in one apt-get line. */
export const allDebianPackages = [
  'nats-server',
  'samba',
  'samba-ad-dc',
  'samba-ad-provision',
  'krb5-user',
  'ldap-utils',
  'apache2',
  'libapache2-mod-auth-gssapi',
  'libkrb5-dev',
  'iproute2',
]

export const aptInstallLine = `apt-get update && apt-get install -y --no-install-recommends ${allDebianPackages.join(' ')}`

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
export async function requireCommands(commands: string[]): Promise<void> {
  const missing: string[] = []
  for (const command of commands) if (!(await hasCommand(command))) missing.push(command)
  if (missing.length === 0) return
  if (process.getuid?.() !== 0) {
    throw new Error(`missing ${missing.join(', ')}; install them as root with:\n  ${aptInstallLine}`)
  }
  installing ??= run('sh', ['-c', aptInstallLine], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    maxBuffer: 64 * 1024 * 1024,
  }).then(() => undefined)
  await installing
  for (const command of missing) {
    if (!(await hasCommand(command))) throw new Error(`${command} is still missing after: ${aptInstallLine}`)
  }
}
