import { busOptionsFromSettings } from '@krbfleet/bus'
import { readFile, stat } from 'node:fs/promises'
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import { exportPublicKey, importPrivateKey, keyIdOf, loadKeyEncryptionKey } from '@krbfleet/sealing'
import { createPublicKey } from 'node:crypto'
import { createMetricsRegistry, runService, startHealthServer } from '@krbfleet/runtime'
import { startAccountService } from './start.ts'
import { AccountConfig, KEK_ENV_VAR } from './config.ts'
import { parseEncryptionTypes } from './domain/account.ts'
import type { RotationFailpoint } from './rotation/model.ts'
import type { Logger } from 'pino'

/**
 * The process edge of the account service: configuration, key-encryption key, health server,
 * ordered shutdown (runService owns the signals). A wrong or missing KEK, an unreachable DC or a
 * bad setting stops start-up with a message naming the cause. `seams` is for crash tests only
 * (test/crashing-main.ts); production runs this file, which passes none.
 */
export async function runAccount(
  seams: { failpoint?: (point: RotationFailpoint, logger: Logger) => void } = {},
): Promise<void> {
  const { failpoint } = seams
  await runService({
    name: 'account',
    config: AccountConfig,
    async start({ config, logger, env }) {
      const keyEncryptionKey = await loadKeyEncryptionKey({
        ...(config.account.kekFile ? { file: config.account.kekFile } : {}),
        env,
        envVar: KEK_ENV_VAR,
      })
      const signer = config.account.signerKeyFile ? await loadSigner(config.account.signerKeyFile) : undefined
      if (!signer) logger.warn('no KRBFLEET_ACCOUNT_SIGNER_KEY_FILE: no credential is issued to agents')
      // The public half: what every agent is configured with (KRBFLEET_AGENT_SIGNER_KEY).
      else
        logger.info(
          { signer: signer.keyId, signerPublicKey: exportPublicKey(createPublicKey(signer.privateKey)) },
          'credentials are signed with this key',
        )
      const registry = createMetricsRegistry()
      const running = await startAccountService({
        logger,
        registry,
        ...(failpoint ? { failpoint: (point: RotationFailpoint) => failpoint(point, logger) } : {}),
        settings: {
          nats: busOptionsFromSettings(config.nats),
          ldap: config.ldap,
          domain: {
            netbiosDomain: config.domain.netbios,
            dnsDomain: config.domain.dns,
            ...(config.domain.baseDn ? { baseDn: config.domain.baseDn } : {}),
          },
          keyEncryptionKey,
          ...(config.account.containerDn ? { defaultContainerDn: config.account.containerDn } : {}),
          defaultEncryptionTypes: parseEncryptionTypes(
            config.account.encryptionTypes,
            'KRBFLEET_ACCOUNT_ENCRYPTION_TYPES',
          ),
          maxPasswordAgeDays: config.account.maxPasswordAgeDays,
          scheduledRotation: config.account.scheduledRotation,
          maxTicketLifetimeMs: config.account.maxTicketLifetimeMs,
          rotation: {
            stageTimeoutMs: config.account.rotationStageTimeoutMs,
            applyTimeoutMs: config.account.rotationApplyTimeoutMs,
            onlineWithinMs: config.account.agentOnlineWithinMs,
            staleAfterMs: config.account.rotationStaleAfterMs,
          },
          ...(signer ? { signer } : {}),
        },
      })
      const health = await startHealthServer({
        name: 'account',
        ...config.http,
        logger,
        registry,
        checks: running.checks,
      })
      logger.info({ health: health.url }, 'health server listening')
      return {
        consumers: [{ stop: () => running.stopServing() }],
        nats: [running.bus],
        http: [health],
        ldap: [running.directory],
      }
    },
  })
}

if (import.meta.main) await runAccount()

/** The signing key: a private file (not readable by group or others) holding an Ed25519 PKCS#8 PEM. */
async function loadSigner(file: string) {
  const refuse = (rule: string) =>
    new KrbfleetError(ErrorCode.Invalid, `KRBFLEET_ACCOUNT_SIGNER_KEY_FILE (${file}) ${rule}`, {
      field: 'account.signerKeyFile',
    })
  const info = await stat(file).catch(() => {
    throw refuse('cannot be read')
  })
  if ((info.mode & 0o077) !== 0) throw refuse('must not be readable by group or others (chmod 600)')
  let privateKey: ReturnType<typeof importPrivateKey>
  try {
    privateKey = importPrivateKey(await readFile(file, 'utf8'), 'ed25519', 'account.signerKeyFile')
  } catch {
    throw refuse('must hold an Ed25519 private key (PKCS#8 PEM)')
  }
  return { privateKey, keyId: keyIdOf(createPublicKey(privateKey)) }
}
