import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { normalizeFqdn, TopologyDocument, codec } from '@krbfleet/contracts';
import { sampleTopology } from '../../lab/src/sample.ts';
import { renderHubAuth, renderHubLeafUsers, renderLeaf } from './permissions.ts';
export const natsDeployDir = resolve(import.meta.dirname, '..');
export const generatedDir = join(natsDeployDir, 'generated');
/** The hub servers' leaf-node URLs, as named in hub/hub-common.conf. */
export const hubLeafUrls = [1, 2, 3].map((n) => `nats-leaf://hub-${n}.nats.corp.example.com:7422`);
const topologyCodec = codec(TopologyDocument, 'topology document');
/** Renders every generated file; writes the changed ones unless `write` is false. */
export async function generatedFiles(options) {
    const topology = options.topologyFile
        ? topologyCodec.decode(JSON.parse(await readFile(options.topologyFile, 'utf8')))
        : sampleTopology;
    const outDir = options.outDir ?? generatedDir;
    const sites = topology.sites.map((s) => s.name);
    const rendered = [
        ['hub-auth.conf', renderHubAuth()],
        ['hub-leaf-users.conf', renderHubLeafUsers(sites)],
        ...sites.map((site) => {
            const pools = new Set(topology.pools.filter((p) => p.site === site).map((p) => p.fqdn));
            const servers = topology.servers
                .filter((s) => pools.has(s.pool))
                .map((s) => normalizeFqdn(s.fqdn, 'servers.fqdn'))
                .sort();
            return [`leaf-${site}.conf`, renderLeaf({ site, servers, hubUrls: hubLeafUrls })];
        }),
    ];
    const files = [];
    for (const [name, content] of rendered) {
        const path = join(outDir, name);
        const current = existsSync(path) ? await readFile(path, 'utf8') : undefined;
        const changed = current !== content;
        if (changed && options.write) {
            await mkdir(outDir, { recursive: true });
            await writeFile(path, content);
        }
        files.push({ path: relative(process.cwd(), path) || path, content, changed });
    }
    return { files };
}
