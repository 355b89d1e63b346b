import { existsSync } from 'node:fs'
import { chmod, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { accountServiceAces, spnSyncAces } from '@krbfleet/directory'
import {
  createUser,
  leaseLoopbackAddress,
  portAnswers,
  releaseLoopbackAddress,
  setPassword,
  startDc,
  type TestDc,
} from '@krbfleet/testing'
import { type LabLayout, randomPassword, secretFile } from './layout.ts'
import { type PidRecord, readyOrStopped, startDetached } from './processes.ts'
import type { LabState } from './state.ts'
import { LabPartError, waitUntil } from './wait.ts'

/** The lab's domain: the harness's DC (libs/testing testDomain). */
export const labDomain = {
  realm: 'CORP.EXAMPLE.COM',
  netbiosDomain: 'CORP',
  dnsDomain: 'corp.example.com',
  baseDn: 'DC=corp,DC=example,DC=com',
  tlsServername: 'DC1.corp.example.com',
  /** Computer accounts that krbfleet creates in the lab live here (least privilege: rights on this OU only). */
  accountsOu: 'OU=krbfleet,DC=corp,DC=example,DC=com',
} as const

/** The lab prefers this loopback address for its DC; when it is taken, the harness allocator picks another. */
export const preferredDcAddress = '127.0.0.200'

/** Ports a Samba DC with "ldap cldap kdc rpc" listens on. */
const dcPorts = [88, 389, 636]

/** The service identities of the lab, each with only the rights its job needs (ARCHITECTURE, security rules). */
export const serviceIdentities = {
  account: { sam: 'svc-kf-account', secret: 'ldap-account.password' },
  'spn-sync': { sam: 'svc-kf-spnsync', secret: 'ldap-spn-sync.password' },
} as const
export type IdentityName = keyof typeof serviceIdentities

export const labUser = { sam: 'labuser', secret: 'lab-user.password' } as const
/** The identity `krbfleet test assignment` probes with: its keytab is `secrets/probe.keytab`. */
export const probeUser = { sam: 'krbprobe', secret: 'probe-user.password', keytab: 'probe.keytab' } as const
export const probePrincipal = `${probeUser.sam}@${labDomain.realm}`

export function identityDn(sam: string): string {
  return `CN=${sam},CN=Users,${labDomain.baseDn}`
}

/** Where the lab's DC lives: `.lab/dc` is a harness DC folder (`dc/` holds Samba's files). */
export interface LabDc {
  address: string
  dir: string
  smbConf: string
  caFile: string
  krb5Conf: string
  ldapsUrl: string
  log: string
}

export function labDc(layout: LabLayout, state: LabState): LabDc {
  const address = state.dcAddress ?? preferredDcAddress
  return {
    address,
    dir: layout.dc,
    smbConf: join(layout.dc, 'dc', 'etc', 'smb.conf'),
    caFile: join(layout.dc, 'dc', 'private', 'tls', 'ca.pem'),
    krb5Conf: join(layout.dc, 'krb5.conf'),
    ldapsUrl: `ldaps://${address}:636`,
    log: join(layout.logs, 'dc.log'),
  }
}

/**
 * Prepares `.lab/dc` with the harness: the first run copies the machine's provisioned DC template
 * into it (libs/testing startDc), later runs reuse it; either way smb.conf and krb5.conf are aimed
 * at the address leased now. The harness's Samba dies with its parent, so it is stopped again here
 * and the lab starts its own detached one on the same folder (startDetachedDc).
 */
export async function prepareDcFolder(
  layout: LabLayout,
  state: LabState,
  setUp: (dc: TestDc) => Promise<void>,
): Promise<void> {
  let dc: TestDc
  try {
    dc = await startDc({ dir: layout.dc, keep: true, address: state.dcAddress ?? preferredDcAddress })
  } catch {
    // The preferred address is leased by someone else (a test DC): take any free one.
    dc = await startDc({ dir: layout.dc, keep: true })
  }
  try {
    state.dcAddress = dc.address
    await setUp(dc)
  } finally {
    await dc.stop()
  }
}

export async function startDetachedDc(layout: LabLayout, dc: LabDc): Promise<PidRecord> {
  // Hold the harness's lease of the address while starting, then hand it to the samba process, so
  // that test DCs leasing addresses skip ours for as long as it runs (and reclaim it once it exits).
  // On a failed start the lease is released, which also takes the address off `lo` if the harness
  // put it there.
  const lease = await leaseLoopbackAddress({ address: dc.address, busyPorts: dcPorts })
  let record: PidRecord | undefined
  try {
    const started = await startDetached({
      name: 'dc',
      command: 'samba',
      args: ['-i', '-M', 'single', '--debug-stdout', '-s', dc.smbConf],
      log: dc.log,
      runDir: layout.run,
    })
    await readyOrStopped(layout.run, started, () =>
      waitUntil('dc', 'answering LDAPS and Kerberos', async () => await dcReady(dc), {
        timeoutMs: 60_000,
        process: started,
      }),
    )
    record = started
    return started
  } finally {
    if (record) await lease.handOver(record.pid)
    else await lease.release()
  }
}

/**
 * Ends the address lease held in the samba process's name (after the lab stopped it): the address
 * leaves `lo` again when the harness added it (libs/testing releaseLoopbackAddress).
 */
export async function releaseDcAddress(address: string, pid: number): Promise<void> {
  await releaseLoopbackAddress(address, { pid })
}

/** Ready: LDAPS and the KDC answer, and the TLS CA exists. */
export async function dcReady(dc: LabDc): Promise<boolean> {
  return existsSync(dc.caFile) && (await portAnswers(dc.address, 636)) && (await portAnswers(dc.address, 88))
}

async function userExists(dc: TestDc, sam: string): Promise<boolean> {
  const list = await dc.sambaTool(['user', 'list'])
  return list.split('\n').some((line) => line.trim().toLowerCase() === sam.toLowerCase())
}

async function userSid(dc: TestDc, sam: string): Promise<string> {
  const out = await dc.sambaTool(['user', 'show', sam, '--attributes=objectSid'])
  const sid = /objectSid:\s*(S-[0-9-]+)/.exec(out)?.[1]
  if (!sid) throw new LabPartError('dc', `cannot read the SID of ${sam}`)
  return sid
}

/**
 * Creates the user or resets its password over LDAPS (libs/testing createUser / setPassword): a
 * password given to samba-tool on its command line would be readable by every local user in `ps`
 * and /proc/<pid>/cmdline for as long as samba-tool runs.
 */
async function ensureUser(layout: LabLayout, dc: TestDc, sam: string, secret: string): Promise<void> {
  const password = await secretFile(layout, secret, () => randomPassword())
  if (await userExists(dc, sam)) {
    // The secret file is the truth: a DC kept from an earlier lab gets the password of this one.
    await setPassword(dc, identityDn(sam), password)
  } else {
    const dn = await createUser(dc, sam, password)
    if (dn.toLowerCase() !== identityDn(sam).toLowerCase()) {
      throw new LabPartError('dc', `created ${sam} at ${dn}, expected ${identityDn(sam)}`)
    }
  }
  await dc.sambaTool(['user', 'setexpiry', sam, '--noexpiry'])
}

/**
 * Once per DC: the OU for krbfleet's accounts, a least-privilege identity per service with rights
 * delegated on that OU only (verified in lab/NOTES.md), the lab user for LAB_USER, and the probe
 * identity with its keytab for `test assignment`.
 */
export async function prepareDirectory(layout: LabLayout, dc: TestDc): Promise<void> {
  const ous = await dc.sambaTool(['ou', 'list', '--full-dn'])
  if (!ous.toLowerCase().includes(labDomain.accountsOu.toLowerCase())) {
    await dc.sambaTool(['ou', 'create', labDomain.accountsOu])
  }
  for (const identity of Object.values(serviceIdentities)) {
    await ensureUser(layout, dc, identity.sam, identity.secret)
  }
  await ensureUser(layout, dc, labUser.sam, labUser.secret)
  await ensureUser(layout, dc, probeUser.sam, probeUser.secret)
  // Exported after its password is set (exportkeytab appends to a file that exists: start afresh).
  const keytab = join(layout.secrets, probeUser.keytab)
  await rm(keytab, { force: true })
  await dc.sambaTool(['domain', 'exportkeytab', keytab, `--principal=${probePrincipal}`])
  await chmod(keytab, 0o600)
  const accountSid = await userSid(dc, serviceIdentities.account.sam)
  const spnSid = await userSid(dc, serviceIdentities['spn-sync'].sam)
  // Delegated on the OU only (libs/directory delegation.ts).
  const aces = [...accountServiceAces(accountSid), ...spnSyncAces(spnSid)]
  for (const sddl of aces) {
    await dc.sambaTool([
      'dsacl',
      'set',
      `--objectdn=${labDomain.accountsOu}`,
      '--action=allow',
      `--sddl=${sddl}`,
    ])
  }
}

export async function readAdminPassword(dc: LabDc): Promise<string> {
  return (await readFile(join(dc.dir, 'admin-password'), 'utf8')).trim()
}
