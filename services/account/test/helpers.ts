import { execFile } from 'node:child_process'
import type { KeyObject } from 'node:crypto'
import { Writable } from 'node:stream'
import { promisify } from 'node:util'
import { type Bus, callRpc, connectBus } from '@krbfleet/bus'
import { accountKey, buckets, ServiceName, streams, type TopologyDocument } from '@krbfleet/contracts'
import { type Directory, filter } from '@krbfleet/directory'
import { createLogger, silentLogger } from '@krbfleet/logging'
import { exportPublicKey, generateKeyEncryptionKey, parseKeyEncryptionKey } from '@krbfleet/sealing'
import { TopologyStore } from '@krbfleet/topology-store'
import type { NatsServer, TestDc } from '@krbfleet/testing'
import { enableRevision, plainPool } from '@krbfleet/testing/topology'
import type { Logger } from 'pino'
import { type AccountServiceSettings, type RunningAccountService, startAccountService } from '../src/start.ts'
import { KekSecretBox } from '../src/adapters/nats/account-store.ts'
import { AccountRecordCodec } from '../src/domain/record.ts'

export const run = promisify(execFile)

/** Everything the service logged, to scan for secrets. */
export class LogCapture {
  readonly lines: string[] = []
  readonly stream = new Writable({
    write: (chunk, _enc, done) => {
      this.lines.push(String(chunk))
      done()
    },
  })
  logger(name = 'account'): Logger {
    return createLogger({ name, level: 'debug', destination: this.stream })
  }
  text(): string {
    return this.lines.join('')
  }
}

export function newKek(): { text: string; key: KeyObject } {
  const text = generateKeyEncryptionKey()
  return { text, key: parseKeyEncryptionKey(text, 'test') }
}

export function settingsFor(
  dc: TestDc,
  nats: NatsServer,
  kek: KeyObject,
  overrides: Partial<AccountServiceSettings['ldap']> = {},
): AccountServiceSettings {
  return {
    nats: { servers: nats.url },
    ldap: {
      url: dc.ldapsUrl,
      caFile: dc.caFile,
      servername: dc.tlsServername,
      bindDn: dc.adminDn,
      password: dc.adminPassword,
      timeoutMs: 5000,
      ...overrides,
    },
    domain: { netbiosDomain: dc.netbiosDomain, dnsDomain: dc.dnsDomain },
    keyEncryptionKey: kek,
    maxPasswordAgeDays: 30,
    // Generous for a loaded spn-sync; a stopped one is "no responders" at once, whatever the timeout.
    spnTimeoutMs: 10_000,
    // The tests stage crashes and restart at once: no grace period.
    pendingGraceMs: 0,
  }
}

export async function startService(
  dc: TestDc,
  nats: NatsServer,
  kek: KeyObject,
  logger: Logger,
  overrides: Partial<AccountServiceSettings['ldap']> = {},
): Promise<RunningAccountService> {
  return await startAccountService({ settings: settingsFor(dc, nats, kek, overrides), logger })
}

/** An independent admin connection, to read back what the service did (the harness's). */
export { adminDirectory } from '@krbfleet/testing/world'

export async function clientBus(nats: NatsServer): Promise<Bus> {
  return await connectBus({ servers: nats.url, name: 'account-test-client', logger: silentLogger() })
}

export function caller(bus: Bus, actor = 'user:test') {
  return <T = unknown>(operation: string, body: unknown) =>
    callRpc<T>(bus, ServiceName.Account, operation, body, { actor, timeoutMs: 30_000 })
}

/** The error a call fails with (the test fails if it succeeds). */
export async function failure(
  promise: Promise<unknown>,
): Promise<{ code: string; message: string; field?: string }> {
  try {
    await promise
  } catch (err) {
    const e = err as { code: string; message: string; field?: string }
    return { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) }
  }
  throw new Error('expected the call to fail')
}

/** Every computer object's DN, to prove that a refused request changed nothing. */
export async function computerDns(directory: Directory, baseDn: string): Promise<string[]> {
  const entries = await directory.search(baseDn, filter.eq('objectClass', 'computer'), {
    attributes: ['1.1'],
  })
  return entries.map((e) => e.dn).sort()
}

export async function readComputer(directory: Directory, baseDn: string, sam: string) {
  const entry = await directory.findOne(baseDn, filter.eq('sAMAccountName', sam), {
    attributes: [
      'sAMAccountName',
      'userAccountControl',
      'dNSHostName',
      'description',
      'msDS-SupportedEncryptionTypes',
      'servicePrincipalName',
    ],
  })
  if (!entry) return undefined
  return {
    dn: entry.dn,
    sAMAccountName: entry.value('sAMAccountName'),
    userAccountControl: entry.integer('userAccountControl'),
    dNSHostName: entry.value('dNSHostName'),
    description: entry.value('description'),
    encryptionTypes: entry.integer('msDS-SupportedEncryptionTypes'),
    kvno: await directory.readKvno(entry.dn),
  }
}

/** The current password of an account, opened from its KV record with the KEK (as an agent-side test would). */
export async function currentPassword(bus: Bus, kek: KeyObject, account: string) {
  const kv = await bus.kv(buckets.accounts)
  const entry = await kv.get(accountKey(account))
  if (entry?.operation !== 'PUT') throw new Error(`no record for ${account}`)
  const record = AccountRecordCodec.decode(entry.json())
  if (!record.secret) throw new Error(`no confirmed secret for ${account}`)
  return {
    password: new KekSecretBox(kek).open(account, record.secret.sealed),
    kvno: record.secret.kvno,
    record,
  }
}

/** Every raw message of a stream (KV buckets are streams `KV_<bucket>`), as text. */
export async function streamText(bus: Bus, stream: string): Promise<string> {
  const info = await bus.jsm.streams.info(stream)
  const out: string[] = []
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    try {
      const m = await bus.jsm.streams.getMessage(stream, { seq })
      if (m) out.push(new TextDecoder().decode(m.data))
    } catch {
      // purged or deleted sequence
    }
  }
  return out.join('\n')
}

export const eventsStream = streams.events.name
export const accountsStream = `KV_${buckets.accounts.bucket}`

/** One web server of {@link enablePool}: its backend and its agent's enrolled public key. */
export interface PoolServer {
  fqdn: string
  backend: 'iis' | 'keytab'
  agentKey: KeyObject
}

/**
 * Writes an enabled revision straight into the topology bucket, as the topology service would:
 * site paris with pool01.corp.example.com and `servers` (their agents enrolled), assigned to
 * `account` (none: unassigned). Returns the revision written (one more than the last).
 */
export async function enablePool(bus: Bus, servers: PoolServer[], account?: string): Promise<number> {
  const store = new TopologyStore(await bus.kv(buckets.topology))
  const pool = 'pool01.corp.example.com'
  const topology: TopologyDocument = {
    sites: [{ name: 'paris' }],
    pools: [plainPool(pool, 'paris')],
    servers: servers.map((s) => ({ fqdn: s.fqdn, pool, backend: s.backend })),
    assignments: account ? [{ site: 'paris', account }] : [],
    agents: servers.map((s) => ({
      server: s.fqdn,
      encryptionKey: exportPublicKey(s.agentKey),
      enrolledAt: new Date().toISOString(),
    })),
  }
  const revision = (await store.readEnabledNumber()).enabled + 1
  await enableRevision(store, {
    revision,
    enabledAt: new Date().toISOString(),
    enabledBy: 'user:test',
    topology,
  })
  return revision
}
