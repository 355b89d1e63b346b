/**
 * `npm run build:agent`: the agent as ONE self-contained ES module, `services/iis-agent/dist/iis-agent.mjs`
 * (esbuild: bundled, minified, no TypeScript left to strip at start). This is what a web server
 * runs (`node iis-agent.mjs`, README "Install"): one file to copy beside Node 24, and a much smaller
 * process than the workspace sources run through Node's type stripping (`npm run bench`, agent group).
 */
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
export const agentBundle = join(here, 'dist', 'iis-agent.mjs')

/**
 * The Node flags the agent runs with (`node <flags> iis-agent.mjs`): a 1 MB young-generation
 * semi-space and one V8 worker thread. An idle agent allocates little, so neither costs it time;
 * together they keep about 3.5 MB off its resident size (bench/README.md).
 */
export const agentNodeFlags = ['--max-semi-space-size=1', '--v8-pool-size=1'] as const

export async function buildAgent(outfile = agentBundle): Promise<string> {
  await mkdir(dirname(outfile), { recursive: true })
  await build({
    entryPoints: [join(here, 'src', 'main.ts')],
    outfile,
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    // CommonJS dependencies bundled into an ES module still call require() for Node's own modules.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    legalComments: 'none',
    logLevel: 'warning',
  })
  return outfile
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${await buildAgent()}\n`)
}
