import { busOptionsFromSettings } from '@krbfleet/bus'
import { loadKeyEncryptionKey } from '@krbfleet/sealing'
import { createMetricsRegistry, runService, startHealthServer } from '@krbfleet/runtime'
import { startAccountService } from './start.ts'
import { AccountConfig, KEK_ENV_VAR } from './config.ts'
import { parseEncryptionTypes } from './domain/account.ts'

// The process edge of the account service: configuration, key-encryption key, health server,
// ordered shutdown (runService owns the signals). A wrong or missing KEK, an unreachable DC or a
// bad setting stops start-up with a message naming the cause.
await runService({
  name: 'account',
  config: AccountConfig,
  async start({ config, logger, env }) {
    const keyEncryptionKey = await loadKeyEncryptionKey({
      ...(config.account.kekFile ? { file: config.account.kekFile } : {}),
      env,
      envVar: KEK_ENV_VAR,
    })
    const registry = createMetricsRegistry()
    const running = await startAccountService({
      logger,
      registry,
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
