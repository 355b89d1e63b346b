/**
 * `npm run lab:global`: krbfleet in the global shape, in the foreground until Ctrl-C (issue 15).
 * deploy/nats's three hubs (JetStream R3) and one leaf node per site on loopback, from the production
 * files with TLS and the generated users; a Samba DC; topology, account, spn-sync and the console
 * (with its dashboard) on the hubs; per site two web servers, each an agent (keytab backend) on
 * the site's leaf behind its own Apache with mod_auth_gssapi. One account is assigned to every site
 * and rotated once. Everything lives in a scratch folder and goes with the process (the harness of
 * test/global.e2e.test.ts: test/support/system.ts `global`); `npm run lab` is the persistent lab.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { sitePool, sitesTopology } from '@krbfleet/testing/topology'
import { startSystem, tokens } from '../../test/support/system.ts'
import { startWebServer, type WebServer } from '../../test/support/web-servers.ts'

const ACCOUNT = 'CORP\\KERBGLOBAL'
const SITES = ['redmond', 'dublin', 'tokyo']
const topology = sitesTopology(
  ACCOUNT,
  SITES.map((site) => ({ site, servers: [1, 2].map((n) => `fe0${n}.${site}.corp.example.com`) })),
)
const print = (line: string) => process.stdout.write(`${line}\n`)

print('starting 3 hubs, a leaf node per site (redmond, dublin, tokyo), the DC and the services ...')
const system = await startSystem({ global: { topology }, accountProcess: {} })
const web: WebServer[] = []
let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  print('stopping ...')
  for (const w of web) await w.close().catch(() => {})
  await system.stop()
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())

try {
  const ok = async (args: string[]) => {
    const r = await system.cli(args)
    if (r.code !== 0) throw new Error(`krbfleet ${args.join(' ')}: ${r.stderr.trim()}`)
    return r.stdout
  }
  await ok(['account', 'new', ACCOUNT])
  const { agents: _agents, ...document } = topology
  const applied = await system.api('POST', '/v1/topology/apply', { body: { document } })
  if (applied.status !== 200) throw new Error(`topology apply: ${JSON.stringify(applied.body)}`)
  await ok(['topology', 'enable'])
  print('starting the agents on their leaves (one Apache each) ...')
  for (const server of topology.servers) {
    const site = topology.pools.find((p) => p.fqdn === server.pool)?.site ?? ''
    const w = await startWebServer(system, server.fqdn, sitePool(site))
    web.push(w)
    await w.start({ enrol: true })
  }
  const kvno = await system.kvnoOf('KERBGLOBAL$')
  await system.eventually(
    async () => (await Promise.all(web.map((w) => w.kvnos()))).every((k) => k.includes(kvno)),
    'every agent installed the account key through its leaf',
    120_000,
  )
  print('rotating the password once across the three sites ...')
  print((await ok(['password', 'set', ACCOUNT])).trim())

  const { deployment } = system.global!
  print('')
  print('krbfleet runs in the global shape:')
  for (const hub of system.global!.hubs)
    print(`  ${hub.name.padEnd(13)} ${hub.url}   monitor http://127.0.0.1:${hub.httpPort}`)
  for (const leaf of system.global!.leaves)
    print(`  ${leaf.name.padEnd(13)} ${leaf.url}   monitor http://127.0.0.1:${leaf.httpPort}`)
  print(`  console       ${system.consoleUrl}  (dashboard: ${system.consoleUrl}/dashboard/)`)
  for (const w of web)
    print(`  ${w.server.padEnd(30)} Apache http://127.0.0.1:${w.apache.port}/ (Host: ${w.pool})`)
  print('')
  print('the CLI against it:')
  const tokenFile = join(deployment.dir, 'admin.token')
  await writeFile(tokenFile, tokens.admin.secret, { mode: 0o600 })
  print(`  export KRBFLEET_URL=${system.consoleUrl} KRBFLEET_TOKEN="$(cat ${tokenFile})"`)
  print(`  cli/bin/krbfleet agent list; cli/bin/krbfleet password set ${ACCOUNT.replace('\\', '\\\\')}`)
  print(`files (configurations, certificates, logs): ${deployment.dir}`)
  print('Ctrl-C stops everything.')
} catch (err) {
  print(`lab:global failed: ${err instanceof Error ? err.message : String(err)}`)
  await stop()
}
