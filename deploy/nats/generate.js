/**
 * Writes deploy/nats/generated/ from libs/contracts: the hub's accounts and service users, the
 * leaf nodes the hub accepts, and one leaf-node configuration per site with a user per agent.
 *
 *   node deploy/nats/generate.ts [--topology FILE.json] [--check]
 *
 * The sites and servers come from a topology document (JSON, the shape of libs/contracts
 * TopologyDocument; `krbfleet topology show --json` prints one); by default the lab's sample.
 * `--check` writes nothing and exits 1 when a generated file is out of date (for CI).
 */
import { generatedFiles } from './src/generate.ts';
const args = process.argv.slice(2);
const check = args.includes('--check');
const topologyIndex = args.indexOf('--topology');
const topologyFile = topologyIndex >= 0 ? args[topologyIndex + 1] : undefined;
if (topologyIndex >= 0 && !topologyFile) {
    console.error('usage: node deploy/nats/generate.ts [--topology FILE.json] [--check]');
    process.exit(2);
}
const result = await generatedFiles({ topologyFile, write: !check });
for (const file of result.files)
    console.log(`${file.changed ? (check ? 'OUT OF DATE' : 'wrote') : 'unchanged'}  ${file.path}`);
if (check && result.files.some((f) => f.changed)) {
    console.error('deploy/nats/generated is out of date: run node deploy/nats/generate.ts');
    process.exitCode = 1;
}
