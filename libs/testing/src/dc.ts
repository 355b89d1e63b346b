import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { promisify } from 'node:util'
import { Attribute, Change, Client } from 'ldapts'
import { type LoopbackLease, leaseLoopbackAddress, portAnswers } from './addresses.ts'
import { isProcessAlive, lock, unlock } from './locks.ts'
import { type ManagedProcess, startProcess } from './processes.ts'
import { requireCommands } from './system.ts'

const run = promisify(execFile)

/** The fixed identity of every test DC (lab/NOTES.md). */
export const testDomain = {
  realm: 'CORP.EXAMPLE.COM',
  netbiosDomain: 'CORP',
  dnsDomain: 'corp.example.com',
  baseDn: 'DC=corp,DC=example,DC=com',
  hostName: 'dc1',
  /** The DC's certificate has this CN and no subjectAltName: pass it as TLS servername. */
  tlsServername: 'DC1.corp.example.com',
  adminDn: 'CN=Administrator,CN=Users,DC=corp,DC=example,DC=com',
} as const

/** Ports a Samba DC with "ldap cldap kdc rpc" listens on; any of them answering means the address is taken. */
const dcPorts = [88, 389, 636]

/** Bump when the provisioning recipe changes, so that old cached templates are not reused. */
const templateFormat = 2

export interface TestDc {
  /** The loopback address this DC alone listens on, 127.0.0.N. */
  readonly address: string
  readonly realm: 'CORP.EXAMPLE.COM'
  readonly netbiosDomain: 'CORP'
  readonly dnsDomain: 'corp.example.com'
  readonly baseDn: 'DC=corp,DC=example,DC=com'
  /** `ldaps://<address>:636` */
  readonly ldapsUrl: string
  /** `ldap://<address>:389` (StartTLS; a simple bind without TLS is refused). */
  readonly ldapUrl: string
  /** The DC's self-signed CA certificate (PEM). */
  readonly caFile: string
  readonly tlsServername: 'DC1.corp.example.com'
  readonly adminDn: string
  readonly adminPassword: string
  /** A krb5.conf pointing at this DC only (use through KRB5_CONFIG; see kerberosEnv). */
  readonly krb5Conf: string
  /** The folder holding this DC: `dc/` (Samba's files), krb5.conf, the ticket cache, samba.log. */
  readonly dir: string
  readonly smbConf: string
  readonly samLdb: string
  readonly logFile: string
  /** The pid of the running samba process (undefined while killed). */
  readonly pid: number | undefined
  /**
   * Runs samba-tool for this DC. `-s <smb.conf>` is always added; `-H <sam.ldb>` (the local
   * database, which Samba itself uses while running) is added unless the arguments name a URL
   * already or the subcommand takes none (`domain info`, `testparm`, ...). Resolves with stdout;
   * rejects with samba-tool's stderr in the message.
   */
  sambaTool(args: string[], options?: SambaToolOptions): Promise<string>
  readonly timings: DcTimings
  /** Stops and starts Samba on the same address with the same data. */
  restart(): Promise<void>
  /** Stops Samba, keeping its folder and address (fault tests; start() brings it back). */
  kill(): Promise<void>
  start(): Promise<void>
  /** Stops Samba, deletes the folder (unless keep or a caller-given dir) and frees the address. */
  stop(): Promise<void>
}

export interface StartDcOptions {
  /** Folder for this DC; a fresh temp folder by default. An existing DC in it is reused (lab). */
  dir?: string
  /** Keep the folder on stop(). */
  keep?: boolean
  /** A specific 127.0.0.N (the lab wants a stable one); leased like any other. */
  address?: string
  /** Template cache folder; default $KRBFLEET_CACHE_DIR or /var/tmp/krbfleet. */
  cacheDir?: string
}

export interface DcTimings {
  /** Set when this call provisioned the machine's template (once per machine). */
  provisionMs?: number
  /** Copying the template and rewriting its configuration. */
  copyMs: number
  /** The last start until LDAPS and the KDC answer. */
  startMs: number
}

export interface SambaToolOptions {
  /**
   * `sam.ldb` (default): the DC's local database, as on a real DC; works while Samba runs.
   * `ldap`: over the network as Administrator (`-H ldap://<address>`, SASL-sealed; credentials by
   * environment, never on the command line). Samba 4.17's samba-tool cannot use ldaps:// (it
   * insists on GSS-SPNEGO sealing inside TLS, which the server refuses).
   */
  via?: 'sam.ldb' | 'ldap'
}

async function sambaVersion(): Promise<string> {
  const { stdout } = await run('samba', ['--version'])
  return stdout.replace(/^Version\s+/i, '').trim()
}

function cacheRoot(options: StartDcOptions): string {
  return options.cacheDir ?? process.env.KRBFLEET_CACHE_DIR ?? '/var/tmp/krbfleet'
}

/** A strong random password meeting AD complexity (upper, lower, digit, symbol). */
export function strongPassword(): string {
  return `Kf7!${randomBytes(18).toString('base64url')}`
}

/**
 * Points a copied DC at its own folder and address: every absolute path in smb.conf names the
 * folder it was provisioned in, and the database files hold only relative paths (checked on 4.17).
 */
async function rewriteSmbConf(
  smbConf: string,
  fromRoot: string,
  toRoot: string,
  address: string,
): Promise<void> {
  const text = await readFile(smbConf, 'utf8')
  const moved = text.split(fromRoot).join(toRoot)
  const rewritten = moved.replace(/^(\s*interfaces\s*=).*$/m, `$1 ${address}`)
  if (!/^\s*interfaces\s*=/m.test(rewritten)) throw new Error(`no interfaces line in ${smbConf}`)
  await writeFile(smbConf, rewritten)
}

/** Finds the root recorded in smb.conf (`private dir = <root>/private`). */
async function recordedRoot(smbConf: string): Promise<string> {
  const text = await readFile(smbConf, 'utf8')
  const match = /^\s*private dir\s*=\s*(.+)\/private\s*$/m.exec(text)
  if (!match?.[1]) throw new Error(`no "private dir" in ${smbConf}`)
  return match[1]
}

function krb5ConfText(address: string): string {
  // MIT krb5 client tools against this DC alone: no DNS (the test domain is not in DNS), no
  // reverse lookups (loopback names would become part of service principals).
  return `[libdefaults]
	default_realm = ${testDomain.realm}
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	udp_preference_limit = 0

[realms]
	${testDomain.realm} = {
		kdc = ${address}:88
		admin_server = ${address}
		kpasswd_server = ${address}:464
	}

[domain_realm]
	.${testDomain.dnsDomain} = ${testDomain.realm}
	${testDomain.dnsDomain} = ${testDomain.realm}
`
}

function spawnSamba(root: string, logFile: string): ManagedProcess {
  // `samba -i` exits by itself when its stdin pipe closes (lab/NOTES.md), so it dies with the test
  // process even on SIGKILL; no watchdog shell is needed. `-M single`: one process, ~60 MB.
  return startProcess({
    name: 'samba',
    command: 'samba',
    args: ['-i', '-M', 'single', '--debug-stdout', '-s', join(root, 'etc', 'smb.conf')],
    logFile,
    dieWithParent: false,
  })
}

/** True once a TLS handshake with the DC's CA and servername succeeds on 636. */
async function ldapsAnswers(address: string, ca: Buffer): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = tlsConnect({ host: address, port: 636, ca, servername: testDomain.tlsServername })
    socket.setTimeout(2000, () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('secureConnect', () => {
      socket.destroy()
      resolve(socket.authorized)
    })
    socket.once('error', () => resolve(false))
  })
}

/**
 * Waits until the DC serves: a TLS handshake on 636 verifies against its CA and name (the CA
 * file appears at first start) and the KDC port answers. Stops waiting as soon as samba exits.
 */
async function waitForDc(
  address: string,
  root: string,
  samba: ManagedProcess,
  logFile: string,
  timeoutMs: number,
): Promise<void> {
  let exit: { code: number | null } | undefined
  void samba.exited.then((code) => {
    exit = { code }
  })
  const caFile = join(root, 'private', 'tls', 'ca.pem')
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (exit)
      throw new Error(
        `samba on ${address} exited with code ${exit.code} during start-up${await logTail(logFile)}`,
      )
    if (
      existsSync(caFile) &&
      (await ldapsAnswers(address, await readFile(caFile))) &&
      (await portAnswers(address, 88))
    )
      return
    if (Date.now() > deadline) {
      throw new Error(
        `samba did not serve LDAPS and Kerberos on ${address} within ${timeoutMs} ms${await logTail(logFile)}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function logTail(logFile: string): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '')
  return `; see ${logFile}${text ? `:\n${text.slice(-1500)}` : ''}`
}

interface Template {
  /** Folder holding `dc/` and `admin-password`. */
  readonly dir: string
  readonly adminPassword: string
  /** Set when this call provisioned it. */
  readonly provisionMs?: number
}

/**
 * Provisions the template once per machine (per Samba version and recipe). Parallel callers wait
 * on a lock; the template appears by an atomic rename, so its existence means it is complete.
 */
async function ensureTemplate(options: StartDcOptions): Promise<Template> {
  const root = cacheRoot(options)
  const version = (await sambaVersion()).replace(/[^A-Za-z0-9.+-]/g, '_')
  const dir = join(root, `dc-template-${version}-f${templateFormat}`)
  const readTemplate = async (): Promise<Template> => ({
    dir,
    adminPassword: (await readFile(join(dir, 'admin-password'), 'utf8')).trim(),
  })
  if (existsSync(join(dir, 'dc', 'etc', 'smb.conf'))) return await readTemplate()
  await mkdir(root, { recursive: true, mode: 0o755 })
  const lockDir = `${dir}.lock`
  await lock(lockDir, 300_000, 'another process provisioning the Samba DC template')
  try {
    if (existsSync(join(dir, 'dc', 'etc', 'smb.conf'))) return await readTemplate()
    // Work folders of a provisioner that died: we hold the lock, so nobody is using them.
    const prefix = `${basename(dir)}.tmp-`
    for (const entry of await readdir(root)) {
      if (entry.startsWith(prefix)) await rm(join(root, entry), { recursive: true, force: true })
    }
    const began = Date.now()
    const work = await mkdtemp(`${dir}.tmp-`)
    try {
      await provisionInto(work, dir)
      await rename(work, dir)
    } catch (error) {
      await rm(work, { recursive: true, force: true })
      throw error
    }
    return { ...(await readTemplate()), provisionMs: Date.now() - began }
  } finally {
    await unlock(lockDir)
  }
}

/** Provisions a DC in `work/dc`, starts it once (TLS certificates), stops it, aims it at `finalDir`. */
async function provisionInto(work: string, finalDir: string): Promise<void> {
  const root = join(work, 'dc')
  // samba-tool takes the password only on its command line, which any local user can read in
  // /proc while it runs: provision with a throwaway password, then set the real one over LDAPS.
  const bootstrapPassword = strongPassword()
  const adminPassword = strongPassword()
  const run_ = join(root, 'run')
  const provisionLog = join(work, 'provision.log')
  try {
    await run(
      'samba-tool',
      [
        'domain',
        'provision',
        `--targetdir=${root}`,
        `--realm=${testDomain.realm}`,
        `--domain=${testDomain.netbiosDomain}`,
        '--server-role=dc',
        '--dns-backend=NONE',
        `--host-name=${testDomain.hostName}`,
        `--adminpass=${bootstrapPassword}`,
        '--option=interfaces=127.0.0.1',
        '--option=bind interfaces only=yes',
        '--option=server services=ldap cldap kdc rpc',
        `--option=pid directory=${run_}`,
        `--option=ncalrpc dir=${join(run_, 'ncalrpc')}`,
        `--option=winbindd socket directory=${join(run_, 'winbindd')}`,
        `--option=ntp signd socket directory=${join(run_, 'ntp_signd')}`,
        `--option=log file=${join(root, 'log', '%m.log')}`,
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    )
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string }
    await writeFile(provisionLog, `${stdout}\n${stderr}`)
    // samba-tool does not echo the password, so stderr is safe to quote.
    throw new Error(`samba-tool domain provision failed; see ${provisionLog}:\n${stderr.slice(-2000)}`)
  }
  await mkdir(run_, { recursive: true })
  await mkdir(join(root, 'log'), { recursive: true })
  const smbConf = join(root, 'etc', 'smb.conf')
  await run('samba-tool', [
    'user',
    'setexpiry',
    'Administrator',
    '--noexpiry',
    '-H',
    join(root, 'private', 'sam.ldb'),
    '-s',
    smbConf,
  ])
  // First start creates the TLS key and self-signed CA (CN=DC1.corp.example.com), which takes
  // 1-2 s; doing it here makes every copy start in a fraction of a second.
  const lease = await leaseLoopbackAddress({ busyPorts: dcPorts })
  try {
    await rewriteSmbConf(smbConf, root, root, lease.address)
    const logFile = join(work, 'first-start.log')
    const samba = spawnSamba(root, logFile)
    try {
      await waitForDc(lease.address, root, samba, logFile, 60_000)
      await resetPasswordOverLdaps(lease.address, root, bootstrapPassword, adminPassword)
    } finally {
      await samba.stop()
    }
  } finally {
    await lease.release()
  }
  const passwordFile = join(work, 'admin-password')
  await writeFile(passwordFile, adminPassword, { mode: 0o600 })
  await chmod(passwordFile, 0o600)
  await rewriteSmbConf(smbConf, root, join(finalDir, 'dc'), '127.0.0.1')
  await rm(join(root, 'run'), { recursive: true, force: true })
  await mkdir(run_, { recursive: true })
}

/** Administrator's new password, set over LDAPS (MS-ADTS 3.1.1.3.1.5: unicodePwd = UTF-16LE of the quoted password). */
async function resetPasswordOverLdaps(
  address: string,
  root: string,
  oldPassword: string,
  newPassword: string,
) {
  const tlsOptions = {
    ca: await readFile(join(root, 'private', 'tls', 'ca.pem')),
    servername: testDomain.tlsServername,
  }
  const client = new Client({ url: `ldaps://${address}:636`, tlsOptions })
  try {
    await client.bind(testDomain.adminDn, oldPassword)
    const unicodePwd = Buffer.from(`"${newPassword}"`, 'utf16le')
    await client.modify(
      testDomain.adminDn,
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd] }),
      }),
    )
  } finally {
    await client.unbind()
  }
  const check = new Client({ url: `ldaps://${address}:636`, tlsOptions })
  await check.bind(testDomain.adminDn, newPassword)
  await check.unbind()
}

/**
 * Starts a Samba AD DC (realm CORP.EXAMPLE.COM) on its own loopback address: a copy of the
 * machine's cached, provisioned template, dying with this process.
 */
export async function startDc(options: StartDcOptions = {}): Promise<TestDc> {
  // Samba binds the privileged Kerberos and LDAP ports, and only root may add loopback addresses.
  if (process.getuid?.() !== 0) {
    throw new Error('startDc needs root: Samba binds ports 88/389/636 and the harness adds 127.0.0.N to lo')
  }
  await requireCommands(['samba', 'samba-tool', 'ip'])
  await removeAbandonedDcFolders()
  const template = await ensureTemplate(options)
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), abandonedPrefix)))
  await mkdir(dir, { recursive: true })
  const root = join(dir, 'dc')
  const smbConf = join(root, 'etc', 'smb.conf')
  const samLdb = join(root, 'private', 'sam.ldb')
  const logFile = join(dir, 'samba.log')
  const krb5Conf = join(dir, 'krb5.conf')
  const passwordFile = join(dir, 'admin-password')
  const deleteOnStop = !options.keep && !options.dir
  const timings: DcTimings = {
    ...(template.provisionMs === undefined ? {} : { provisionMs: template.provisionMs }),
    copyMs: 0,
    startMs: 0,
  }
  // Marks a temp folder as ours while we live; removeAbandonedDcFolders() reclaims it after a crash.
  if (!options.dir && !options.keep) await writeFile(join(dir, 'owner'), String(process.pid))

  let lease: LoopbackLease | undefined
  let adminPassword: string
  let samba: ManagedProcess | undefined
  try {
    lease = await leaseLoopbackAddress({
      busyPorts: dcPorts,
      ...(options.address ? { address: options.address } : {}),
    })
    const copyBegan = Date.now()
    if (existsSync(smbConf)) {
      // A DC kept from an earlier run (the lab): same data, maybe another folder or address.
      await rewriteSmbConf(smbConf, await recordedRoot(smbConf), root, lease.address)
      adminPassword = (await readFile(passwordFile, 'utf8')).trim()
    } else {
      // cp -a keeps ownership, modes and the NT ACL xattrs Samba put on sysvol.
      await run('cp', ['-a', join(template.dir, 'dc'), root])
      await rewriteSmbConf(smbConf, join(template.dir, 'dc'), root, lease.address)
      adminPassword = template.adminPassword
      await writeFile(passwordFile, adminPassword, { mode: 0o600 })
    }
    await writeFile(krb5Conf, krb5ConfText(lease.address))
    timings.copyMs = Date.now() - copyBegan
  } catch (error) {
    await lease?.release()
    if (deleteOnStop) await rm(dir, { recursive: true, force: true })
    throw error
  }
  const address = lease.address
  const running = () =>
    samba !== undefined && samba.child.exitCode === null && samba.child.signalCode === null

  const start = async () => {
    if (running()) return
    const began = Date.now()
    samba = spawnSamba(root, logFile)
    try {
      await waitForDc(address, root, samba, logFile, 30_000)
    } catch (error) {
      await samba.stop()
      throw error
    }
    timings.startMs = Date.now() - began
  }
  const kill = async () => {
    await samba?.stop()
  }

  try {
    await start()
  } catch (error) {
    await lease.release()
    if (deleteOnStop) await rm(dir, { recursive: true, force: true })
    throw error
  }

  const sambaToolContext = { smbConf, samLdb, address, krb5Conf, adminPassword }
  let stopped = false
  return {
    address,
    realm: testDomain.realm,
    netbiosDomain: testDomain.netbiosDomain,
    dnsDomain: testDomain.dnsDomain,
    baseDn: testDomain.baseDn,
    ldapsUrl: `ldaps://${address}:636`,
    ldapUrl: `ldap://${address}:389`,
    caFile: join(root, 'private', 'tls', 'ca.pem'),
    tlsServername: testDomain.tlsServername,
    adminDn: testDomain.adminDn,
    adminPassword,
    krb5Conf,
    dir,
    smbConf,
    samLdb,
    logFile,
    timings,
    get pid() {
      return running() ? samba?.child.pid : undefined
    },
    sambaTool: (args, toolOptions) => runSambaTool(args, sambaToolContext, toolOptions),
    start,
    kill,
    async restart() {
      await kill()
      await start()
    },
    async stop() {
      if (stopped) return
      stopped = true
      await kill()
      await lease.release()
      if (deleteOnStop) await rm(dir, { recursive: true, force: true })
    },
  }
}

const abandonedPrefix = 'krbfleet-dc-'

/**
 * Temp DC folders (36 MB each) of test processes that died without stop(): their Samba died with
 * them, so the folder is garbage once its owner pid is gone.
 */
async function removeAbandonedDcFolders(): Promise<void> {
  const parent = tmpdir()
  for (const entry of await readdir(parent).catch(() => [] as string[])) {
    if (!entry.startsWith(abandonedPrefix)) continue
    const folder = join(parent, entry)
    try {
      const owner = Number.parseInt(await readFile(join(folder, 'owner'), 'utf8'), 10)
      if (isProcessAlive(owner)) continue
    } catch {
      // No owner file: kept on purpose (keep: true), or an owner between mkdtemp and writeFile.
      continue
    }
    if ((await stat(folder).catch(() => undefined))?.isDirectory())
      await rm(folder, { recursive: true, force: true })
  }
}

interface SambaToolContext {
  smbConf: string
  samLdb: string
  address: string
  krb5Conf: string
  adminPassword: string
}

function namesUrl(args: string[]): boolean {
  return args.some((arg) => arg === '-H' || arg.startsWith('--URL') || /^-H./.test(arg))
}

async function runSambaTool(
  args: string[],
  context: SambaToolContext,
  options: SambaToolOptions = {},
): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, KRB5_CONFIG: context.krb5Conf }
  const extra = ['-s', context.smbConf]
  let url: string | undefined
  if (options.via === 'ldap') {
    url = `ldap://${context.address}`
    // Samba's credentials read USER and PASSWD from the environment (cli_credentials_guess),
    // which keeps the password off the command line.
    env.USER = 'Administrator'
    env.PASSWD = context.adminPassword
  } else if (!namesUrl(args)) {
    url = context.samLdb
  }
  const attempt = async (withUrl: boolean) => {
    const full = [...args, ...extra, ...(withUrl && url ? ['-H', url] : [])]
    return (await run('samba-tool', full, { env, maxBuffer: 64 * 1024 * 1024 })).stdout
  }
  try {
    try {
      return await attempt(true)
    } catch (error) {
      // A few subcommands (domain info, testparm, ntacl ...) have no -H: run them without it.
      const stderr = (error as { stderr?: string }).stderr ?? ''
      if (url && options.via !== 'ldap' && /no such option: -H/.test(stderr)) return await attempt(false)
      throw error
    }
  } catch (error) {
    const { stderr = '', code } = error as { stderr?: string; code?: number }
    throw new Error(
      `samba-tool ${args.slice(0, 2).join(' ')} failed (exit ${code}): ${stderr.trim().slice(-2000)}`,
    )
  }
}

/** Environment for child processes using MIT Kerberos tools against this DC (kinit, kvno, curl --negotiate). */
export function kerberosEnv(dc: Pick<TestDc, 'krb5Conf' | 'dir'>): {
  KRB5_CONFIG: string
  KRB5CCNAME: string
} {
  return { KRB5_CONFIG: dc.krb5Conf, KRB5CCNAME: `FILE:${join(dc.dir, 'krb5cc')}` }
}

/** An ldapts client bound as Administrator over LDAPS, verifying the DC's CA and name. Unbind it. */
export async function adminClient(dc: TestDc): Promise<Client> {
  const client = new Client({
    url: dc.ldapsUrl,
    tlsOptions: { ca: await readFile(dc.caFile), servername: dc.tlsServername },
  })
  try {
    await client.bind(dc.adminDn, dc.adminPassword)
  } catch (error) {
    await client.unbind().catch(() => {})
    throw error
  }
  return client
}

/** userAccountControl: NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD (MS-ADTS 2.2.16). */
const normalAccountNoExpiry = 0x200 | 0x10000

/**
 * Creates an enabled user in CN=Users whose password never expires and returns its DN. Done over
 * LDAPS (unicodePwd in the add, MS-ADTS 3.1.1.3.1.5) so the password is never on a command line.
 * The name is restricted to letters, digits, '.', '_' and '-' so that it needs no DN escaping.
 */
export async function createUser(dc: TestDc, name: string, password: string): Promise<string> {
  if (!/^[A-Za-z0-9._-]{1,20}$/.test(name)) {
    throw new Error(`createUser: name "${name}" must be 1-20 letters, digits, '.', '_' or '-'`)
  }
  const dn = `CN=${name},CN=Users,${dc.baseDn}`
  const client = await adminClient(dc)
  try {
    const attribute = (type: string, values: string[] | Buffer[]) => new Attribute({ type, values })
    await client.add(dn, [
      attribute('objectClass', ['top', 'person', 'organizationalPerson', 'user']),
      attribute('sAMAccountName', [name]),
      attribute('userPrincipalName', [`${name}@${dc.realm}`]),
      attribute('unicodePwd', [Buffer.from(`"${password}"`, 'utf16le')]),
      attribute('userAccountControl', [String(normalAccountNoExpiry)]),
    ])
  } finally {
    await client.unbind()
  }
  return dn
}

/** Resets an account's password over LDAPS as Administrator (MS-ADTS 3.1.1.3.1.5: replace unicodePwd). */
export async function setPassword(dc: TestDc, dn: string, password: string): Promise<void> {
  const client = await adminClient(dc)
  try {
    const unicodePwd = Buffer.from(`"${password}"`, 'utf16le')
    await client.modify(
      dn,
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd] }),
      }),
    )
  } finally {
    await client.unbind()
  }
}

/** Runs kinit for a principal with a password (stdin), using kerberosEnv(dc). */
export async function kinit(dc: TestDc, principal: string, password: string): Promise<void> {
  const child = spawn('kinit', [principal], {
    env: { ...process.env, ...kerberosEnv(dc) },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  child.stdout.resume()
  child.stdin.end(`${password}\n`)
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`kinit ${principal} failed (exit ${code}): ${stderr.trim()}`)
}
