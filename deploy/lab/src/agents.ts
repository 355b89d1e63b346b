import { copyFile, mkdir } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { type CliEnv, cli } from './cli.ts'
import { writeFileAtomic } from './layout.ts'
import { buildAgent } from '../../../services/iis-agent/build.ts'
import {
  agentBundle,
  agentDir,
  labApplicationHost,
  type ServiceContext,
  type ServiceSpec,
} from './services.ts'

/**
 * What an operator does before an agent's first start, done for the lab's agents about to start:
 * the agent program as a web server gets it (`npm run build:agent`: one bundled file, about 75 MB
 * at idle instead of 127 MB for the sources); its state folder (0700); for an iis agent a copy of a
 * realistic applicationHost.config (there is no IIS on Linux: the file configurator edits it); and,
 * when its server is not enrolled yet, a one-time enrolment token (`krbfleet agent token SERVER`) in
 * its token file (0600), which the agent deletes once used.
 */
export async function prepareAgents(
  specs: ServiceSpec[],
  context: ServiceContext,
  env: CliEnv,
  step: (line: string) => void,
): Promise<void> {
  const servers = JSON.parse(await cli(['server', 'list', '--json'], env)) as {
    servers: Array<{ fqdn: string; enrolled: boolean }>
  }
  const enrolled = new Set(servers.servers.filter((s) => s.enrolled).map((s) => s.fqdn))
  await buildAgent(agentBundle(context.layout))
  const waiting: string[] = []
  for (const spec of specs) {
    const server = spec.agentOf
    if (!server) continue
    const dir = agentDir(context.layout, server.fqdn)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const applicationHost = join(dir, 'applicationHost.config')
    if (server.backend === 'iis' && !existsSync(applicationHost))
      await copyFile(labApplicationHost, applicationHost)
    if (enrolled.has(server.fqdn)) continue
    const issued = JSON.parse(await cli(['agent', 'token', server.fqdn, '--ttl', '60', '--json'], env)) as {
      token: string
    }
    await writeFileAtomic(join(dir, 'enrol-token'), `${issued.token}\n`, 0o600)
    waiting.push(server.fqdn.split('.')[0] as string)
  }
  if (waiting.length > 0) step(`issued enrolment tokens for ${waiting.join(', ')}`)
}
