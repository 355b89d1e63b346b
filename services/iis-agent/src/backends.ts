import { readFile } from 'node:fs/promises'
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { Logger } from 'pino'
import type { AgentConfig } from './config.ts'
import type { CredentialBackend } from './ports.ts'

/**
 * The configured backend (KRBFLEET_AGENT_BACKEND), built from its settings. Each backend is loaded
 * only when configured: an agent on a Linux web server never loads the IIS adapters, nor the
 * reverse (the agent's footprint, `npm run bench`).
 */
export async function createBackend(agent: AgentConfig['agent'], logger: Logger): Promise<CredentialBackend> {
  if (agent.backend === 'keytab') {
    const { keytabBackend, keytabStatePath, kinitCheck } = await import('./adapters/keytab/index.ts')
    const gid = agent.keytabGroup === undefined ? undefined : await groupId(agent.keytabGroup)
    return keytabBackend({
      path: agent.keytab,
      ...(gid === undefined ? {} : { gid }),
      statePath: keytabStatePath(agent.stateDir),
      ...(agent.kdcCheck ? { kdcCheck: kinitCheck() } : {}),
      logger,
    })
  }
  const {
    appcmdConfigurator,
    fileConfigurator,
    iisBackend,
    iisStatePaths,
    loadOrCreateLocalKey,
    localKeyProtector,
    loggingRecycler,
  } = await import('./adapters/iis/index.ts')
  const paths = iisStatePaths(agent.stateDir)
  const stateKey = await loadOrCreateLocalKey(paths.key)
  const configurator =
    agent.iisConfigurator === 'appcmd'
      ? appcmdConfigurator()
      : fileConfigurator({
          path: agent.iisConfig,
          // On Linux a documented stand-in for IIS's own protection (README, "iis backend").
          protector: localKeyProtector(stateKey),
          recycler: loggingRecycler(logger),
        })
  return iisBackend({
    configurator,
    target: { pools: agent.iisPools, sites: agent.iisSites },
    statePath: paths.credentials,
    stateKey,
    logger,
  })
}

/** A group name (from /etc/group) or a numeric gid. */
async function groupId(group: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group)
  const text = await readFile('/etc/group', 'utf8').catch(() => '')
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':')
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid)
  }
  throw new KrbfleetError(
    ErrorCode.Invalid,
    `KRBFLEET_AGENT_KEYTAB_GROUP: no group '${group}' on this machine (a group name or a numeric gid)`,
    { field: 'agent.keytabGroup', retryable: false },
  )
}
