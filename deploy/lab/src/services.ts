import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { identityDn, type LabDc, labDomain, serviceIdentities } from './dc.ts'
import { type LabLayout, repoRoot, secretPath } from './layout.ts'
import { natsUrl } from './nats.ts'
import { type PidRecord, startDetached } from './processes.ts'
import { type LabState, port } from './state.ts'
import { httpStatus, waitUntil } from './wait.ts'

/** What a service's environment is built from. */
export interface ServiceContext {
  layout: LabLayout
  state: LabState
  dc: LabDc
}

/**
 * One krbfleet service in the lab: started as its own process
 * (`node_modules/.bin/node services/<name>/src/main.ts`), configured only through environment
 * variables (each service's README lists them), ready when its /readyz answers 200.
 */
export interface ServiceSpec {
  name: string
  /** Ports this service listens on (named in lab.json). */
  ports: string[]
  env(context: ServiceContext): Record<string, string>
  /** The URL that answers 200 once the service is ready. */
  readyUrl(state: LabState): string
}

const common = (name: string, context: ServiceContext): Record<string, string> => ({
  KRBFLEET_NATS_URL: natsUrl(context.state),
  KRBFLEET_HEALTH_HOST: '127.0.0.1',
  KRBFLEET_HEALTH_PORT: String(port(context.state, `${name}.health`)),
  LOG_LEVEL: 'info',
})

const ldap = (identity: keyof typeof serviceIdentities, context: ServiceContext): Record<string, string> => ({
  KRBFLEET_LDAP_URL: context.dc.ldapsUrl,
  KRBFLEET_LDAP_CA_FILE: context.dc.caFile,
  KRBFLEET_LDAP_SERVERNAME: labDomain.tlsServername,
  KRBFLEET_LDAP_BIND_DN: identityDn(serviceIdentities[identity].sam),
  KRBFLEET_LDAP_PASSWORD_FILE: secretPath(context.layout, serviceIdentities[identity].secret),
})

const healthReady = (name: string) => (state: LabState) =>
  `http://127.0.0.1:${port(state, `${name}.health`)}/readyz`

/** In start order: topology first (the others read its revisions), console last (the edge). */
export const serviceSpecs: ServiceSpec[] = [
  {
    name: 'topology',
    ports: ['topology.health'],
    env: (context) => ({ ...common('topology', context) }),
    readyUrl: healthReady('topology'),
  },
  {
    name: 'account',
    ports: ['account.health'],
    env: (context) => ({
      ...common('account', context),
      ...ldap('account', context),
      KRBFLEET_KEK_FILE: secretPath(context.layout, 'kek'),
      KRBFLEET_DEFAULT_CONTAINER_DN: labDomain.accountsOu,
    }),
    readyUrl: healthReady('account'),
  },
  {
    name: 'spn-sync',
    ports: ['spn-sync.health'],
    env: (context) => ({ ...common('spn-sync', context), ...ldap('spn-sync', context) }),
    readyUrl: healthReady('spn-sync'),
  },
  {
    name: 'console',
    ports: ['console', 'console.health'],
    env: (context) => ({
      ...common('console', context),
      KRBFLEET_HTTP_HOST: '127.0.0.1',
      KRBFLEET_HTTP_PORT: String(port(context.state, 'console')),
      KRBFLEET_TOKENS_FILE: secretPath(context.layout, 'console-tokens.json'),
    }),
    readyUrl: healthReady('console'),
  },
]

export function serviceMain(name: string): string {
  return join(repoRoot, 'services', name, 'src', 'main.ts')
}

/** The services that exist in this checkout (the lab grows as services land). */
export function presentServices(): ServiceSpec[] {
  return serviceSpecs.filter((spec) => existsSync(serviceMain(spec.name)))
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
  const record = await startDetached({
    name: spec.name,
    command: nodeBinary,
    args: [serviceMain(spec.name)],
    log,
    runDir: context.layout.run,
    env,
    cwd: repoRoot,
  })
  await waitUntil(
    spec.name,
    'ready (/readyz)',
    async () => (await httpStatus(spec.readyUrl(context.state))) === 200,
    {
      timeoutMs: 60_000,
      process: record,
    },
  )
  return record
}

export async function serviceReady(spec: ServiceSpec, state: LabState): Promise<boolean> {
  return (await httpStatus(spec.readyUrl(state))) === 200
}
