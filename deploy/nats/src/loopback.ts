import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { TopologyDocument } from '@krbfleet/contracts'
import { natsDeployDir, renderDeployment, serversOfSite } from './generate.ts'
import {
  agentUser,
  bootstrapUser,
  hubJetStreamDomain,
  inboxPrefixOf,
  type NatsUser,
  serviceUsers,
} from './permissions.ts'

const run = promisify(execFile)

/**
 * deploy/nats's production files on one machine: the three hub servers of hub/ and a leaf node per
 * site of a topology, each on its own loopback ports and store, with a CA and certificates made here
 * (openssl), every user's password a 0600 file. The files are the production ones with only their
 * machine-specific values replaced (certificate folder, store, listen addresses, the hubs' names),
 * so what runs here is what an operator deploys. Used by the global end-to-end test, `npm run lab --
 * --global` and the global benchmark; they start the servers themselves.
 */
export interface LoopbackNode {
  /** `hub-1`, `leaf-dublin` (the server_name). */
  name: string
  configFile: string
  /** Client port on 127.0.0.1 (TLS). */
  clientPort: number
  /** Monitoring port on 127.0.0.1 (/healthz, /varz, /jsz, /leafz). */
  httpPort: number
  /** nats-server writes its pid here (`-P`): a fault test SIGKILLs the server itself. */
  pidFile: string
}

export interface LoopbackHub extends LoopbackNode {
  routePort: number
  leafPort: number
  storeDir: string
}

export interface LoopbackLeaf extends LoopbackNode {
  site: string
  servers: string[]
}

export interface LoopbackDeployment {
  dir: string
  caFile: string
  hubs: LoopbackHub[]
  leaves: LoopbackLeaf[]
  /** `tls://127.0.0.1:<port>` of every hub, comma-separated: the services' KRBFLEET_NATS_URL. */
  hubUrl: string
  /** `tls://127.0.0.1:<port>` of a site's leaf: its agents' KRBFLEET_NATS_URL. */
  leafUrl(site: string): string
  /** nats-server's environment: every password variable the configuration files name. */
  serverEnv: Record<string, string>
  /** A client's KRBFLEET_NATS_* settings as `user` towards `url` (password as a 0600 file). */
  clientEnv(user: NatsUser, url: string): Record<string, string>
  /** The agent of `server`: its site's leaf, as its own user, in the hub's JetStream domain. */
  agentEnv(server: string): Record<string, string>
  /** agentEnv as connectBus options. */
  agentOptions(server: string): ReturnType<LoopbackDeployment['clientOptions']> & { jsDomain: string }
  /** The same as connectBus options. */
  clientOptions(
    user: NatsUser,
    url: string,
  ): { servers: string[]; user: string; pass: string; tls: { caFile: string }; inboxPrefix: string }
}

export interface LoopbackOptions {
  dir: string
  topology: TopologyDocument
  /** A free loopback port (libs/testing freePort, the lab's port plan). */
  port: () => Promise<number>
  /** Users added to the hub's KRBFLEET account (a test's observer). */
  extraHubUsers?: NatsUser[]
}

/** A user with every right in the KRBFLEET account: a test reads streams and KV with it. Never deployed. */
export function observerUser(): NatsUser {
  const user = 'krbfleet-test-observer'
  return {
    user,
    inboxPrefix: inboxPrefixOf(user),
    passwordVariable: '$KRBFLEET_NATS_PASSWORD_TEST_OBSERVER',
    comment: 'test observer: reads everything (loopback deployments only)',
    permissions: { publish: { allow: ['>'] }, subscribe: { allow: ['>'] }, allowResponses: true },
  }
}

/** Writes the deployment's files under `options.dir` (certificates, configurations, passwords). */
export async function writeLoopbackDeployment(options: LoopbackOptions): Promise<LoopbackDeployment> {
  const { dir, topology } = options
  const tlsDir = join(dir, 'tls')
  const secretsDir = join(dir, 'secrets')
  const generated = join(dir, 'generated')
  await Promise.all([tlsDir, secretsDir, generated].map((d) => mkdir(d, { recursive: true, mode: 0o700 })))
  const sites = topology.sites.map((s) => s.name)
  await makeCertificates(tlsDir, sites)

  const hubs: LoopbackHub[] = []
  for (const n of [1, 2, 3]) {
    const hubDir = join(dir, `hub-${n}`)
    hubs.push({
      name: `hub-${n}`,
      configFile: join(hubDir, `hub-${n}.conf`),
      clientPort: await options.port(),
      httpPort: await options.port(),
      routePort: await options.port(),
      leafPort: await options.port(),
      storeDir: join(hubDir, 'jetstream'),
      pidFile: join(hubDir, 'nats-server.pid'),
    })
  }
  const leaves: LoopbackLeaf[] = []
  for (const site of sites) {
    leaves.push({
      name: `leaf-${site}`,
      site,
      servers: serversOfSite(topology, site),
      configFile: join(generated, `leaf-${site}.conf`),
      clientPort: await options.port(),
      httpPort: await options.port(),
      pidFile: join(dir, `leaf-${site}.pid`),
    })
  }

  /** The production file's machine-specific values, for this machine. */
  const localize = (text: string, node: { clientPort: number; httpPort: number }, hub?: LoopbackHub) => {
    let out = text
      .replaceAll('/etc/nats/tls', tlsDir)
      .replaceAll('"0.0.0.0:4222"', `"127.0.0.1:${node.clientPort}"`)
      .replaceAll('"127.0.0.1:8222"', `"127.0.0.1:${node.httpPort}"`)
    if (hub) {
      out = out
        .replaceAll('/var/lib/nats/jetstream', hub.storeDir)
        .replaceAll('"0.0.0.0:6222"', `"127.0.0.1:${hub.routePort}"`)
        .replaceAll('"0.0.0.0:7422"', `"127.0.0.1:${hub.leafPort}"`)
    }
    hubs.forEach((h, i) => {
      out = out
        .replaceAll(`hub-${i + 1}.nats.corp.example.com:6222`, `127.0.0.1:${h.routePort}`)
        .replaceAll(`hub-${i + 1}.nats.corp.example.com:7422`, `127.0.0.1:${h.leafPort}`)
    })
    return out
  }

  const extraHubUsers = options.extraHubUsers ?? []
  for (const [name, content] of renderDeployment(
    topology,
    hubs.map((_, i) => `nats-leaf://hub-${i + 1}.nats.corp.example.com:7422`),
    { extraHubUsers },
  )) {
    const leaf = leaves.find((l) => `leaf-${l.site}.conf` === name)
    await writeFile(join(generated, name), leaf ? localize(content, leaf) : content)
  }
  const common = await readFile(join(natsDeployDir, 'hub', 'hub-common.conf'), 'utf8')
  for (const [i, hub] of hubs.entries()) {
    const hubDir = join(dir, hub.name)
    await mkdir(hub.storeDir, { recursive: true })
    await writeFile(join(hubDir, 'hub-common.conf'), localize(common, hub, hub))
    const own = await readFile(join(natsDeployDir, 'hub', `hub-${i + 1}.conf`), 'utf8')
    await writeFile(hub.configFile, localize(own, hub, hub))
  }

  const users = [
    ...serviceUsers(),
    bootstrapUser(),
    ...extraHubUsers,
    ...leaves.flatMap((l) => l.servers.map((server) => agentUser(server))),
  ]
  const serverEnv: Record<string, string> = {
    KRBFLEET_NATS_PASSWORD_SYS: `kfn_${randomBytes(18).toString('base64url')}`,
  }
  /** Each user's password, and the 0600 file a client reads it from. */
  const secrets = new Map<string, { password: string; file: string }>()
  for (const user of users) {
    // nats-server reads a value starting with a digit or '-' as a number: start with letters.
    const password = `kfn_${randomBytes(18).toString('base64url')}`
    const file = join(secretsDir, `nats-${user.user}.password`)
    await writeFile(file, password, { mode: 0o600 })
    secrets.set(user.user, { password, file })
    serverEnv[user.passwordVariable.slice(1)] = password
  }
  const secretOf = (user: NatsUser) => {
    const secret = secrets.get(user.user)
    if (!secret) throw new Error(`loopback deployment: no NATS user ${user.user}`)
    return secret
  }

  const caFile = join(tlsDir, 'ca.pem')
  const clientEnv = (user: NatsUser, url: string) => ({
    KRBFLEET_NATS_URL: url,
    KRBFLEET_NATS_CA_FILE: caFile,
    KRBFLEET_NATS_USER: user.user,
    KRBFLEET_NATS_PASSWORD_FILE: secretOf(user).file,
    KRBFLEET_NATS_INBOX_PREFIX: user.inboxPrefix,
  })
  const clientOptions = (user: NatsUser, url: string) => ({
    servers: url.split(','),
    user: user.user,
    pass: secretOf(user).password,
    tls: { caFile },
    inboxPrefix: user.inboxPrefix,
  })
  const leafByServer = new Map(leaves.flatMap((l) => l.servers.map((s) => [s, l] as const)))
  const leafOf = (server: string) => {
    const leaf = leafByServer.get(server)
    if (!leaf) throw new Error(`loopback deployment: ${server} is not a server of any site`)
    return `tls://127.0.0.1:${leaf.clientPort}`
  }
  return {
    dir,
    caFile,
    hubs,
    leaves,
    hubUrl: hubs.map((h) => `tls://127.0.0.1:${h.clientPort}`).join(','),
    leafUrl(site) {
      const leaf = leaves.find((l) => l.site === site)
      if (!leaf) throw new Error(`loopback deployment: no leaf for site ${site}`)
      return `tls://127.0.0.1:${leaf.clientPort}`
    },
    serverEnv,
    clientEnv,
    agentEnv: (server) => ({
      ...clientEnv(agentUser(server), leafOf(server)),
      KRBFLEET_NATS_JS_DOMAIN: hubJetStreamDomain,
    }),
    agentOptions: (server) => ({
      ...clientOptions(agentUser(server), leafOf(server)),
      jsDomain: hubJetStreamDomain,
    }),
    clientOptions,
  }
}

/**
 * One CA for the deployment, the hubs' certificate (server and client: routes verify both sides),
 * and per site the leaf's server certificate and its client certificate towards the hub, whose
 * subject the hub maps to the KRBFLEET account (permissions.ts leafCertificateSubject).
 */
export async function makeCertificates(dir: string, sites: readonly string[]): Promise<void> {
  const openssl = (args: string[]) => run('openssl', args, { cwd: dir })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await openssl(
    ['req', '-x509', ...ec, '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '30'].concat([
      '-subj',
      '/O=krbfleet/CN=krbfleet loopback CA',
    ]),
  )
  const issue = async (name: string, subject: string, extensions: string) => {
    await writeFile(join(dir, `${name}.ext`), extensions)
    await openssl(['req', ...ec, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', subject])
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca-key.pem',
        '-CAcreateserial',
      ].concat(['-out', `${name}.pem`, '-days', '30', '-extfile', `${name}.ext`]),
    )
  }
  const serverExt = 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n'
  await issue('hub', '/O=krbfleet/CN=hub', serverExt)
  // One at a time: every issue updates the CA's serial file.
  for (const site of sites) {
    await issue(`leaf-${site}`, `/O=krbfleet/CN=leaf-${site}`, serverExt)
    await issue(`leaf-${site}-client`, `/O=krbfleet/OU=leaf/CN=leaf-${site}`, 'extendedKeyUsage=clientAuth\n')
  }
}
