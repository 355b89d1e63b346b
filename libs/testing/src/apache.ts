/**
 * A real Apache httpd with mod_auth_gssapi on a free loopback port, in a scratch folder, for
 * proving a keytab end to end: `curl --negotiate` gets 200 only when the keytab holds the key the
 * KDC encrypted the ticket with (lab/NOTES.md, "Kerberos end to end"). Debian's apache2 binary with
 * a configuration of its own (no /etc/apache2); run as root it serves as www-data, so the keytab
 * must be readable by that group.
 */
import { execFile } from 'node:child_process'
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { portAnswers } from './addresses.ts'
import { freePort } from './ports.ts'
import { type ManagedProcess, startProcess } from './processes.ts'
import { requireCommands } from './system.ts'

const run = promisify(execFile)
const modules = '/usr/lib/apache2/modules'

export interface StartApacheOptions {
  /** The keytab mod_auth_gssapi accepts with (`GssapiCredStore keytab:<path>`). */
  keytab: string
  /** KRB5_CONFIG for the acceptor (kerberosEnv(dc).KRB5_CONFIG). */
  krb5Config: string
  /** The user Apache serves as when started as root (default www-data). */
  user?: string
}

export interface TestApache {
  readonly port: number
  readonly dir: string
  /** The web server's user and group (the keytab's group must let it read). */
  readonly user: string
  /** `curl --negotiate` for http://<name>:<port>/ resolved to 127.0.0.1, with the caller's ticket cache. */
  negotiate(name: string, env: NodeJS.ProcessEnv): Promise<number>
  /** The error log (mod_auth_gssapi says why it refused). */
  errorLog(): Promise<string>
  stop(): Promise<void>
}

/** Where an Apache site lives and what it serves (the lab's web servers use it too). */
export interface ApacheSite {
  /** Its folder (0755: the web server user must reach the document root). */
  dir: string
  /** 127.0.0.1 unless given. */
  address?: string
  port: number
  /** The keytab mod_auth_gssapi accepts with. */
  keytab: string
  /** The krb5.conf to copy for the acceptor. */
  krb5Config: string
  /** The user Apache serves as when started as root (default www-data). */
  user?: string
}

/**
 * Writes an Apache httpd configuration with mod_auth_gssapi in `site.dir`: one page behind
 * Negotiate (krb5 only, no Basic fallback), accepted with `site.keytab`. Returns the httpd.conf and
 * the krb5.conf copy the acceptor must run with (KRB5_CONFIG): the web server user cannot read the
 * DC's private folder.
 */
export async function writeApacheSite(site: ApacheSite): Promise<{ conf: string; krb5Config: string }> {
  const { dir } = site
  await chmod(dir, 0o755)
  const user = site.user ?? 'www-data'
  const www = join(dir, 'www')
  await run('mkdir', ['-p', www])
  await writeFile(join(www, 'index.html'), 'krbfleet: Kerberos accepted\n', { mode: 0o644 })
  const krb5Config = join(dir, 'krb5.conf')
  await copyFile(site.krb5Config, krb5Config)
  await chmod(krb5Config, 0o644)
  const conf = join(dir, 'httpd.conf')
  await writeFile(
    conf,
    [
      `ServerRoot ${dir}`,
      'ServerName localhost',
      `Listen ${site.address ?? '127.0.0.1'}:${site.port}`,
      `PidFile ${join(dir, 'httpd.pid')}`,
      `DefaultRuntimeDir ${dir}`,
      `ErrorLog ${join(dir, 'error.log')}`,
      'LogLevel warn auth_gssapi:debug',
      `LoadModule mpm_event_module ${modules}/mod_mpm_event.so`,
      `LoadModule authn_core_module ${modules}/mod_authn_core.so`,
      `LoadModule authz_core_module ${modules}/mod_authz_core.so`,
      `LoadModule authz_user_module ${modules}/mod_authz_user.so`,
      `LoadModule auth_gssapi_module ${modules}/mod_auth_gssapi.so`,
      `LoadModule dir_module ${modules}/mod_dir.so`,
      'DirectoryIndex index.html',
      `User ${user}`,
      `Group ${user}`,
      `DocumentRoot ${www}`,
      '<Location />',
      '  AuthType GSSAPI',
      '  AuthName "krbfleet"',
      `  GssapiCredStore keytab:${site.keytab}`,
      '  GssapiAllowedMech krb5',
      '  GssapiBasicAuth Off',
      '  Require valid-user',
      '</Location>',
      '',
    ].join('\n'),
  )
  return { conf, krb5Config }
}

export async function startApache(options: StartApacheOptions): Promise<TestApache> {
  await requireCommands(['apache2', 'curl'])
  const dir = await mkdtemp(join(tmpdir(), 'krbfleet-apache-'))
  const user = options.user ?? 'www-data'
  const port = await freePort()
  const { conf, krb5Config } = await writeApacheSite({
    dir,
    port,
    keytab: options.keytab,
    krb5Config: options.krb5Config,
    user,
  })
  const process_: ManagedProcess = startProcess({
    name: 'apache2',
    command: 'apache2',
    args: ['-f', conf, '-DFOREGROUND'],
    logFile: join(dir, 'apache2.log'),
    env: { ...process.env, KRB5_CONFIG: krb5Config },
  })
  const deadline = Date.now() + 15_000
  while (!(await portAnswers('127.0.0.1', port))) {
    if (Date.now() > deadline || process_.child.exitCode !== null) {
      const log = await readFile(join(dir, 'apache2.log'), 'utf8').catch(() => '')
      await process_.stop()
      await rm(dir, { recursive: true, force: true })
      throw new Error(`apache2 did not start on 127.0.0.1:${port}: ${log}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    port,
    dir,
    user,
    async negotiate(name, env) {
      const { stdout } = await run(
        'curl',
        [
          '--silent',
          '--output',
          '/dev/null',
          '--write-out',
          '%{http_code}',
          '--negotiate',
          '-u',
          ':',
          '--resolve',
          `${name}:${port}:127.0.0.1`,
          `http://${name}:${port}/index.html`,
        ],
        { env },
      )
      return Number(stdout)
    },
    errorLog: () => readFile(join(dir, 'error.log'), 'utf8').catch(() => ''),
    async stop() {
      await process_.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
