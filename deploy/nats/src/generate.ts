import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { normalizeFqdn, TopologyDocument, codec } from '@krbfleet/contracts'
import { sampleTopology } from '../../lab/src/sample.ts'
import { type NatsUser, renderHubAuth, renderHubLeafUsers, renderLeaf } from './permissions.ts'

export const natsDeployDir = resolve(import.meta.dirname, '..')
export const generatedDir = join(natsDeployDir, 'generated')

/** The hub servers' leaf-node URLs, as named in hub/hub-common.conf. */
export const hubLeafUrls = [1, 2, 3].map((n) => `nats-leaf://hub-${n}.nats.corp.example.com:7422`)

const topologyCodec = codec(TopologyDocument, 'topology document')

export interface GeneratedFile {
  path: string
  content: string
  changed: boolean
}

/**
 * The generated files of a deployment, by name: the hub's users, the leaf nodes it accepts, and one
 * leaf configuration per site of `topology` (its servers' agent users), the leaves linking to
 * `hubUrls`.
 */
export function renderDeployment(
  topology: TopologyDocument,
  hubUrls: readonly string[],
  options: { extraHubUsers?: NatsUser[] } = {},
): Array<[string, string]> {
  const sites = topology.sites.map((s) => s.name)
  return [
    ['hub-auth.conf', renderHubAuth(options.extraHubUsers)],
    ['hub-leaf-users.conf', renderHubLeafUsers(sites)],
    ...sites.map((site): [string, string] => [
      `leaf-${site}.conf`,
      renderLeaf({ site, servers: serversOfSite(topology, site), hubUrls: [...hubUrls] }),
    ]),
  ]
}

/** The servers of `site`, normalized and sorted. */
export function serversOfSite(topology: TopologyDocument, site: string): string[] {
  const pools = new Set(topology.pools.filter((p) => p.site === site).map((p) => p.fqdn))
  return topology.servers
    .filter((s) => pools.has(s.pool))
    .map((s) => normalizeFqdn(s.fqdn, 'servers.fqdn'))
    .sort()
}

/** Renders every generated file; writes the changed ones unless `write` is false. */
export async function generatedFiles(options: {
  topologyFile?: string | undefined
  write: boolean
  outDir?: string
}): Promise<{ files: GeneratedFile[] }> {
  const topology = options.topologyFile
    ? topologyCodec.decode(JSON.parse(await readFile(options.topologyFile, 'utf8')))
    : sampleTopology
  const outDir = options.outDir ?? generatedDir
  const rendered = renderDeployment(topology, hubLeafUrls)
  const files: GeneratedFile[] = []
  for (const [name, content] of rendered) {
    const path = join(outDir, name)
    const current = existsSync(path) ? await readFile(path, 'utf8') : undefined
    const changed = current !== content
    if (changed && options.write) {
      await mkdir(outDir, { recursive: true })
      await writeFile(path, content)
    }
    files.push({ path: relative(process.cwd(), path) || path, content, changed })
  }
  return { files }
}
