import type { KeyObject } from 'node:crypto'
import { randomBytes } from 'node:crypto'
import { type Bus, type ConnectBusOptions, connectBus, type RpcServer } from '@krbfleet/bus'
import {
  buckets,
  ErrorCode,
  KrbfleetError,
  LDAP_TIMEOUT_MS_DEFAULT,
  pendingSettleAfterMs,
} from '@krbfleet/contracts'
import { connectDirectoryFromSettings, type Directory, type LdapSettingsInput } from '@krbfleet/directory'
import type { Logger } from 'pino'
import { Counter, type Registry } from 'prom-client'
import { ldapOperationMetric } from '@krbfleet/runtime'
import { baseDnOfDnsDomain, type DomainInfo } from './domain/account.ts'
import { LdapAccountDirectory } from './adapters/ldap/account-directory.ts'
import { KekSecretBox, KvAccountStore, verifyKeyEncryptionKey } from './adapters/nats/account-store.ts'
import { RpcDesiredSpnSource, serveAccountRpc } from './adapters/nats/rpc.ts'
import { KvTopologyAssignments } from './adapters/nats/topology-assignments.ts'
import { AccountService } from './service.ts'
import { CredentialIssuer } from './credentials/issuer.ts'
import { type CredentialIssuing, startCredentialIssuing } from './credentials/issuing.ts'
import { KvCredentialBucket } from './adapters/nats/credentials-bucket.ts'
import type { RotationFailpoint, RotationSettings } from './rotation/model.ts'
import type { RotationSaga } from './rotation/saga.ts'
import { rotationMetrics } from './rotation/metrics.ts'
import { type Rotations, startRotations } from './rotation/start.ts'

/** How often the sweep looks for leftovers: owed events and settled secrets wait at most this long. */
const defaultSweepMs = 15_000

export interface AccountServiceSettings {
  /** How to reach NATS (libs/bus connectBus options; main.ts: busOptionsFromSettings(config.nats)). */
  nats: Pick<
    ConnectBusOptions,
    'servers' | 'user' | 'pass' | 'token' | 'tls' | 'inboxPrefix' | 'waitOnFirstConnect'
  >
  /** How to reach the DC (libs/directory LdapSettings: LDAPS, or ldap:// with startTls; CA pinned). */
  ldap: LdapSettingsInput
  domain: {
    /** NetBIOS domain name (CORP). */
    netbiosDomain: string
    /** DNS domain (corp.example.com). */
    dnsDomain: string
    /** Defaults to the DC's defaultNamingContext. */
    baseDn?: string
  }
  /** The key-encryption key (loadKeyEncryptionKey from @krbfleet/sealing). */
  keyEncryptionKey: KeyObject
  defaultContainerDn?: string
  defaultEncryptionTypes?: number
  maxPasswordAgeDays: number
  /** How long `test account` waits for spn-sync (default 3000 ms). */
  spnTimeoutMs?: number
  /**
   * A pending secret older than this is a leftover (a crash, or a write whose outcome is unknown)
   * and is settled from AD's kvno. Default: pendingSettleAfterMs of the LDAP timeout (contracts
   * timeouts.ts; 30 s at the 10 s default), past the time any writer, on any replica, still waits
   * for its LDAP write, so a write in flight is never touched.
   */
  pendingGraceMs?: number
  /** How often leftovers are looked for (default 15 000 ms). */
  pendingSweepMs?: number
  /**
   * The key that signs credentials issued to agents (credentials/issuer.ts); without it none is
   * issued. Issuing runs in the sweep, so a server gets its credential within one sweep.
   */
  signer?: { privateKey: KeyObject; keyId: string }
  /** The rotation saga's timing (rotation/model.ts defaultRotationSettings). */
  rotation?: Partial<RotationSettings>
  /**
   * How long a replaced kvno stays on the servers: the maximum ticket lifetime (AD's default
   * 10 h). Tickets issued before a rotation keep working until they expire.
   */
  maxTicketLifetimeMs?: number
  /** Scheduled rotation by maximum password age (default on). */
  scheduledRotation?: boolean
}

export interface RunningAccountService {
  service: AccountService
  rotation: RotationSaga
  bus: Bus
  directory: Directory
  /** Readiness checks: NATS connected and the DC answering. */
  checks: { nats: () => boolean; ldap: () => Promise<boolean> }
  /** Stops answering requests and the pending-secret sweep (first phase of a shutdown). */
  stopServing(): Promise<void>
  /** stopServing, drain NATS, unbind LDAP (STYLE rule 8 order). */
  stop(): Promise<void>
}

/**
 * Connects to AD and NATS, checks the key-encryption key against KV, settles secrets left pending
 * by a crash, and starts answering the `account` operations. Any failure stops start-up with a
 * message that says what is wrong (unreachable DC, wrong KEK, ...).
 */
export async function startAccountService(options: {
  settings: AccountServiceSettings
  logger: Logger
  registry?: Registry
  /** Crash tests only (test/crashing-main.ts): called at each step of a rotation. */
  failpoint?: (point: RotationFailpoint) => void
}): Promise<RunningAccountService> {
  const { settings, logger } = options
  let directory: Directory
  try {
    directory = await connectDirectoryFromSettings(settings.ldap, {
      logger: logger.child({ component: 'directory' }),
      ...(options.registry ? { observe: ldapOperationMetric(options.registry) } : {}),
    })
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    // No `cause`: the reason is in the message already, and the log serializer appends a cause's
    // message, which would print it twice.
    throw new KrbfleetError(
      err instanceof KrbfleetError ? err.code : ErrorCode.Unavailable,
      `cannot use the directory at ${settings.ldap.url}: ${reason}`,
    )
  }
  if (!directory.encrypted) {
    await directory.close()
    throw new KrbfleetError(
      ErrorCode.InsecureConnection,
      `the directory connection to ${settings.ldap.url} is not encrypted; use ldaps:// or StartTLS`,
    )
  }
  let bus: Bus | undefined
  let servers: RpcServer[] = []
  let sweeper: NodeJS.Timeout | undefined
  let issuing: CredentialIssuing | undefined
  let credentials: KvCredentialBucket | undefined
  let rotations: Rotations | undefined
  try {
    bus = await connectBus({ ...settings.nats, name: 'krbfleet-account', logger })
    await bus.ensureStreams()
    const kv = await bus.kv(buckets.accounts)
    const kekState = await verifyKeyEncryptionKey(kv, settings.keyEncryptionKey, buckets.accounts.bucket)
    logger.info({ kek: kekState }, 'key-encryption key checked')

    const domain: DomainInfo = {
      netbiosDomain: settings.domain.netbiosDomain.toUpperCase(),
      dnsDomain: settings.domain.dnsDomain.toLowerCase(),
      baseDn: settings.domain.baseDn ?? directory.baseDn ?? baseDnOfDnsDomain(settings.domain.dnsDomain),
    }
    const service = new AccountService({
      domain,
      directory: new LdapAccountDirectory(directory, domain.baseDn),
      store: new KvAccountStore(kv),
      secrets: new KekSecretBox(settings.keyEncryptionKey),
      events: bus,
      spns: new RpcDesiredSpnSource(bus, logger, settings.spnTimeoutMs),
      assignments: new KvTopologyAssignments(await bus.kv(buckets.topology)),
      logger,
      randomBytes,
      ...(settings.defaultContainerDn ? { defaultContainerDn: settings.defaultContainerDn } : {}),
      ...(settings.defaultEncryptionTypes ? { defaultEncryptionTypes: settings.defaultEncryptionTypes } : {}),
      maxPasswordAgeDays: settings.maxPasswordAgeDays,
      ...(settings.maxTicketLifetimeMs ? { maxTicketLifetimeMs: settings.maxTicketLifetimeMs } : {}),
    })
    const topologyKv = new KvTopologyAssignments(await bus.kv(buckets.topology))
    const derivations = options.registry
      ? new Counter({
          name: 'krbfleet_account_key_derivations_total',
          help: 'Kerberos keys derived from a password (RFC 3962 string-to-key): once per secret, whatever the number of servers',
          registers: [options.registry],
        })
      : undefined
    const { signer } = settings
    credentials = signer ? new KvCredentialBucket(await bus.kv(buckets.credentials), bus, logger) : undefined
    const issuer =
      signer && credentials
        ? new CredentialIssuer({
            topology: topologyKv,
            store: new KvAccountStore(kv),
            secrets: new KekSecretBox(settings.keyEncryptionKey),
            bucket: credentials,
            events: bus,
            signer,
            domain,
            logger,
            ...(derivations ? { onDerivation: () => derivations.inc() } : {}),
          })
        : undefined
    const grace =
      settings.pendingGraceMs ?? pendingSettleAfterMs(settings.ldap.timeoutMs ?? LDAP_TIMEOUT_MS_DEFAULT)
    const sweep = async () => {
      try {
        const settled = await service.recoverPending(grace)
        if (settled > 0) logger.warn({ settled }, 'settled secrets left pending by an interrupted run')
      } catch (err) {
        logger.warn({ err }, 'could not settle pending secrets; will try again')
      }
      try {
        const repaired = await service.repairDrift()
        if (repaired > 0) logger.warn({ repaired }, 'restored encryption types changed outside krbfleet')
      } catch (err) {
        logger.warn({ err }, 'could not look for drift; will try again')
      }
    }
    await sweep()
    sweeper = setInterval(() => void sweep(), settings.pendingSweepMs ?? defaultSweepMs)
    sweeper.unref()
    issuing = issuer
      ? await startCredentialIssuing({
          issuer,
          watch: [await bus.kv(buckets.topology), kv],
          resyncIntervalMs: settings.pendingSweepMs ?? defaultSweepMs,
          logger,
        })
      : undefined

    const operations = options.registry
      ? new Counter({
          name: 'krbfleet_account_operations_total',
          help: 'Account service operations by operation and outcome',
          labelNames: ['operation', 'outcome'],
          registers: [options.registry],
        })
      : undefined
    rotations = await startRotations({
      bus,
      domain,
      directory: new LdapAccountDirectory(directory, domain.baseDn),
      accounts: new KvAccountStore(kv),
      service,
      topology: topologyKv,
      issuer,
      ...(settings.rotation ? { settings: settings.rotation } : {}),
      maxPasswordAgeDays: settings.maxPasswordAgeDays,
      scheduled: settings.scheduledRotation !== false,
      sweepMs: settings.pendingSweepMs ?? defaultSweepMs,
      logger,
      failpoint: options.failpoint,
      ...(options.registry ? { observe: rotationMetrics(options.registry) } : {}),
    })
    servers = serveAccountRpc(
      bus,
      service,
      logger,
      (operation, outcome) => operations?.inc({ operation, outcome }),
      rotations.operations,
    )
    // Ready means subscribed: a request sent right after start must not meet "no responders".
    await Promise.all(servers.map((s) => s.ready))
    const ldapDirectory = new LdapAccountDirectory(directory, domain.baseDn)
    const runningBus = bus
    const runningRotations = rotations
    const runningCredentials = credentials
    const stopServing = async () => {
      clearInterval(sweeper)
      await runningRotations.stop()
      await issuing?.stop()
      runningCredentials?.close()
      await Promise.all(servers.map((s) => s.stop()))
    }
    logger.info({ domain: domain.netbiosDomain, baseDn: domain.baseDn }, 'account service started')
    return {
      service,
      rotation: runningRotations.saga,
      bus,
      directory,
      checks: { nats: () => runningBus.isConnected(), ldap: () => ldapDirectory.ping() },
      stopServing,
      async stop() {
        await stopServing()
        await runningBus.close()
        await directory.close()
      },
    }
  } catch (err) {
    clearInterval(sweeper)
    await rotations?.stop().catch(() => {})
    await issuing?.stop().catch(() => {})
    credentials?.close()
    await Promise.all(servers.map((s) => s.stop().catch(() => {})))
    await bus?.close().catch(() => {})
    await directory.close().catch(() => {})
    throw err
  }
}
