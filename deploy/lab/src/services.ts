import { existsSync } from 'node:fs'
import { chmod, mkdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { writeApacheSite } from '@krbfleet/testing'
import { identityDn, type LabDc, labDomain, serviceIdentities } from './dc.ts'
import { type LabLayout, repoRoot, secretPath } from './layout.ts'
import { agentNodeFlags } from '../../../services/iis-agent/build.ts'
import { natsUrl } from './nats.ts'
import { natsClientEnv, natsUserFor } from './nats-users.ts'
import { type PidRecord, readyOrStopped, startDetached } from './processes.ts'
import { sampleTopology } from './sample.ts'
import { type LabState, port } from './state.ts'
import { httpStatus, waitUntil } from './wait.ts'

/** What a service's environment is built from. */
export interface ServiceContext {
  layout: LabLayout
  state: LabState
  dc: LabDc
  /** The account service's credential signing key, public half (secrets.ts signerPublicKey). */
  signerPublicKey: string
}

/**
 * The realistic applicationHost.config of the iis backend's tests: the lab's iis agents edit a copy
 * with the file configurator (on Linux there is no IIS), running PoolWeb and PoolApi as the account.
 */
export const labApplicationHost = join(
  repoRoot,
  'services',
  'iis-agent',
  'test',
  'fixtures',
  'applicationHost.config',
)

/** The agents' program: `npm run build:agent`'s bundle, built into the lab folder at `up`. */
export const agentBundle = (layout: LabLayout) => join(layout.root, 'bin', 'iis-agent.mjs')

/** Where a lab agent keeps its state (key, token, applicationHost.config). */
export const agentDir = (layout: LabLayout, fqdn: string) =>
  join(layout.root, 'agents', fqdn.split('.')[0] as string)

/**
 * A keytab lab server's web server: its Apache site and the keytab its agent writes there (the
 * folder is 0755 and the keytab 0640 group www-data, so that Apache, serving as www-data, reads it;
 * the agent's own state folder stays 0700).
 */
export const webDir = (layout: LabLayout, fqdn: string) =>
  join(layout.root, 'web', fqdn.split('.')[0] as string)
export const labKeytab = (layout: LabLayout, fqdn: string) =>
  join(webDir(layout, fqdn), 'keytab', 'http.keytab')

/** The port name of a keytab lab server's Apache in lab.json. */
export const webPortName = (fqdn: string) => `web-${fqdn.split('.')[0]}.http`

/**
 * One krbfleet service in the lab: started as its own process
 * (`node_modules/.bin/node services/<name>/src/main.ts`), configured only through environment
 * variables (each service's README lists them), ready when its /readyz answers 200.
 */
export interface ServiceSpec {
  /** The part's name: its pid file, log and status line. */
  name: string
  /** The workspace under services/ whose main.ts runs (default: `name`); agents share one. */
  workspace?: string
  /**
   * Started only once the sample topology is loaded: an agent is ready when it has enrolled,
   * which needs its server in the topology.
   */
  afterTopology?: boolean
  /** An agent: the server it runs on (it needs an enrolment token before its first start). */
  agentOf?: { fqdn: string; backend: string }
  /** Ports this service listens on (named in lab.json). */
  ports: string[]
  env(context: ServiceContext): Record<string, string>
  /** The URL that answers `readyStatus` (default 200) once the service is ready. */
  readyUrl(state: LabState): string
  readyStatus?: number
  /** A part that is not a krbfleet service (Apache): the program it runs, and what it needs first. */
  program?(context: ServiceContext): Promise<{ command: string; args: string[] }>
}

/** NATS as the part's own deploy/nats user (nats-users.ts). */
const nats = (context: ServiceContext, part: { name: string; agentOf?: { fqdn: string } }) => ({
  KRBFLEET_NATS_URL: natsUrl(context.state),
  ...natsClientEnv(context.layout, natsUserFor(part)),
})

/** Where a service listens (KRBFLEET_HTTP_*: health, readiness and metrics, or the console's API). */
const httpOn = (portName: string, context: ServiceContext) => ({
  KRBFLEET_HTTP_HOST: '127.0.0.1',
  KRBFLEET_HTTP_PORT: String(port(context.state, portName)),
})

/** LDAPS to the lab DC as the service's own least-privilege identity; the password only as a file. */
const ldap = (identity: keyof typeof serviceIdentities, context: ServiceContext): Record<string, string> => ({
  KRBFLEET_LDAP_URL: context.dc.ldapsUrl,
  KRBFLEET_LDAP_CA_FILE: context.dc.caFile,
  KRBFLEET_LDAP_SERVERNAME: labDomain.tlsServername,
  KRBFLEET_LDAP_BIND_DN: identityDn(serviceIdentities[identity].sam),
  KRBFLEET_LDAP_PASSWORD_FILE: secretPath(context.layout, serviceIdentities[identity].secret),
})

const domain = {
  KRBFLEET_DOMAIN_NETBIOS: labDomain.netbiosDomain,
  KRBFLEET_DOMAIN_DNS: labDomain.dnsDomain,
  KRBFLEET_DOMAIN_BASE_DN: labDomain.baseDn,
}

const readyAt = (portName: string) => (state: LabState) => `http://127.0.0.1:${port(state, portName)}/readyz`

/**
 * One iis-agent process per server of the sample (services/iis-agent README): its own key file
 * under .lab/agents/<host>/ (created 0600 by the agent at first start) and its own health port.
 */
function agentSpec(server: { fqdn: string; backend: string }): ServiceSpec {
  const host = server.fqdn.split('.')[0] as string
  const name = `agent-${host}`
  return {
    name,
    workspace: 'iis-agent',
    afterTopology: true,
    agentOf: server,
    ports: [`${name}.health`],
    env: (context) => {
      const dir = agentDir(context.layout, server.fqdn)
      return {
        ...nats(context, { name, agentOf: server }),
        ...httpOn(`${name}.health`, context),
        KRBFLEET_AGENT_SERVER: server.fqdn,
        KRBFLEET_AGENT_BACKEND: server.backend,
        KRBFLEET_AGENT_STATE_DIR: dir,
        KRBFLEET_AGENT_SIGNER_KEY: context.signerPublicKey,
        ...(server.backend === 'keytab'
          ? {
              KRBFLEET_AGENT_KEYTAB: labKeytab(context.layout, server.fqdn),
              KRBFLEET_AGENT_KEYTAB_GROUP: 'www-data',
            }
          : {
              KRBFLEET_AGENT_IIS_CONFIG: join(dir, 'applicationHost.config'),
              KRBFLEET_AGENT_IIS_POOLS: 'PoolWeb,PoolApi',
              KRBFLEET_AGENT_IIS_SITES: 'Portal,Intranet',
            }),
      }
    },
    readyUrl: readyAt(`${name}.health`),
  }
}

/**
 * A keytab lab server's web server: a real Apache httpd with mod_auth_gssapi on 127.0.0.1 and its
 * own port, accepting Negotiate with the keytab the server's agent installs, for every HTTP/<name>
 * of its pool (`.lab/servers.json` gives the address; ready when it answers 401, Negotiate).
 */
function webSpec(server: { fqdn: string; pool: string }): ServiceSpec {
  const name = `web-${server.fqdn.split('.')[0]}`
  const portName = webPortName(server.fqdn)
  const url = (state: LabState) => `http://127.0.0.1:${port(state, portName)}/`
  return {
    name,
    afterTopology: true,
    ports: [portName],
    env: (context) => ({ KRB5_CONFIG: join(webDir(context.layout, server.fqdn), 'krb5.conf') }),
    readyUrl: url,
    readyStatus: 401,
    async program(context) {
      const dir = webDir(context.layout, server.fqdn)
      await mkdir(join(dir, 'keytab'), { recursive: true })
      // Apache serves as www-data: it must pass through the lab folder (search only, no listing)
      // to its site and keytab; the secrets and agent folders inside stay 0700.
      const root = context.layout.root
      await chmod(root, ((await stat(root)).mode & 0o777) | 0o011)
      await chmod(join(root, 'web'), 0o755)
      await chmod(join(dir, 'keytab'), 0o755)
      // The lab starts this part only when its own pid record says it is not running: a pid file left
      // by a killed httpd (whose pid may still be a zombie here) must not stop the new one.
      await rm(join(dir, 'httpd.pid'), { force: true })
      const { conf } = await writeApacheSite({
        dir,
        port: port(context.state, portName),
        keytab: labKeytab(context.layout, server.fqdn),
        krb5Config: context.dc.krb5Conf,
      })
      return { command: 'apache2', args: ['-f', conf, '-DFOREGROUND'] }
    },
  }
}

/**
 * In start order: topology first (the others read its revisions), console last (the edge). The
 * variables are the ones each service's config.ts declares (libs/runtime loadConfig naming).
 */
export const serviceSpecs: ServiceSpec[] = [
  {
    name: 'topology',
    ports: ['topology.health'],
    env: (context) => ({
      ...nats(context, { name: 'topology' }),
      ...httpOn('topology.health', context),
      KRBFLEET_AUTO_ENABLE: 'false',
    }),
    readyUrl: readyAt('topology.health'),
  },
  {
    name: 'account',
    ports: ['account.health'],
    env: (context) => ({
      ...nats(context, { name: 'account' }),
      ...httpOn('account.health', context),
      ...ldap('account', context),
      ...domain,
      KRBFLEET_ACCOUNT_KEK_FILE: secretPath(context.layout, 'kek'),
      KRBFLEET_ACCOUNT_SIGNER_KEY_FILE: secretPath(context.layout, 'signer.pem'),
      // Its rights are delegated on this OU only (dc.ts prepareDirectory).
      KRBFLEET_ACCOUNT_CONTAINER_DN: labDomain.accountsOu,
    }),
    readyUrl: readyAt('account.health'),
  },
  {
    name: 'spn-sync',
    ports: ['spn-sync.health'],
    env: (context) => ({
      ...nats(context, { name: 'spn-sync' }),
      ...httpOn('spn-sync.health', context),
      ...ldap('spn-sync', context),
    }),
    readyUrl: readyAt('spn-sync.health'),
  },
  {
    name: 'console',
    ports: ['console'],
    env: (context) => ({
      ...nats(context, { name: 'console' }),
      ...httpOn('console', context),
      KRBFLEET_CONSOLE_TOKENS_FILE: secretPath(context.layout, 'console-tokens.json'),
    }),
    // /healthz, /readyz and /metrics share the API's port.
    readyUrl: readyAt('console'),
  },
  ...sampleTopology.servers.map(agentSpec),
  ...sampleTopology.servers.filter((s) => s.backend === 'keytab').map(webSpec),
]

export function serviceMain(spec: Pick<ServiceSpec, 'name' | 'workspace'>): string {
  return join(repoRoot, 'services', spec.workspace ?? spec.name, 'src', 'main.ts')
}

/** The services that exist in this checkout (the lab grows as services land). */
export function presentServices(): ServiceSpec[] {
  return serviceSpecs.filter((spec) => spec.program !== undefined || existsSync(serviceMain(spec)))
}

export const nodeBinary = join(repoRoot, 'node_modules', '.bin', 'node')

export async function startService(spec: ServiceSpec, context: ServiceContext): Promise<PidRecord> {
  const log = join(context.layout.logs, `${spec.name}.log`)
  // Only what the service needs: PATH and HOME from this shell, nothing else leaks in.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    KRB5_CONFIG: context.dc.krb5Conf,
    ...spec.env(context),
  }
  const program = spec.program
    ? await spec.program(context)
    : {
        command: nodeBinary,
        // An agent runs as on a web server: the one bundled file (agents.ts builds it).
        args: spec.agentOf ? [...agentNodeFlags, agentBundle(context.layout)] : [serviceMain(spec)],
      }
  const record = await startDetached({
    name: spec.name,
    ...program,
    log,
    runDir: context.layout.run,
    env,
    cwd: repoRoot,
  })
  await readyOrStopped(context.layout.run, record, () =>
    waitUntil(
      spec.name,
      spec.readyStatus === undefined ? 'ready (/readyz)' : `answering ${spec.readyStatus}`,
      async () => (await httpStatus(spec.readyUrl(context.state))) === (spec.readyStatus ?? 200),
      {
        timeoutMs: 60_000,
        process: record,
      },
    ),
  )
  return record
}

export async function serviceReady(spec: ServiceSpec, state: LabState): Promise<boolean> {
  return (await httpStatus(spec.readyUrl(state))) === (spec.readyStatus ?? 200)
}
