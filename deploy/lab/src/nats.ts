import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { bootstrapUser } from '../../nats/src/permissions.ts'
import { type LabLayout, repoRoot, writeFileAtomic } from './layout.ts'
import { natsAccounts, natsClientEnv, natsPasswordEnv } from './nats-users.ts'
import { type PidRecord, readyOrStopped, startDetached } from './processes.ts'
import { type LabState, port } from './state.ts'
import { httpStatus, waitUntil } from './wait.ts'

/**
 * The lab's nats-server: one server with JetStream, bound to 127.0.0.1 only, store under
 * `.lab/nats/jetstream` (kept across `down`/`up`, wiped by `reset`), with deploy/nats's users and
 * per-user permissions (nats-users.ts): every service and agent connects as its own user, and only
 * the bootstrap identity creates streams (`bootstrapLabStreams`). deploy/nats shows the rest of the
 * production shape (cluster, leaf nodes, TLS).
 */
export function natsUrl(state: LabState): string {
  return `nats://127.0.0.1:${port(state, 'nats')}`
}

export function natsConfig(layout: LabLayout, state: LabState): string {
  return [
    '# Written by deploy/lab/lab.ts on every start; edit deploy/lab/src/nats.ts instead.',
    'server_name: krbfleet-lab',
    `listen: "127.0.0.1:${port(state, 'nats')}"`,
    `http: "127.0.0.1:${port(state, 'natsMonitor')}"`,
    'jetstream {',
    `  store_dir: ${JSON.stringify(join(layout.nats, 'jetstream'))}`,
    '  max_memory_store: 256MB',
    // Above the sum of every stream's and bucket's max_bytes (libs/contracts storage.ts, about
    // 2.2 GiB), which JetStream reserves when it creates them; the disk holds only what is written.
    '  max_file_store: 4GB',
    '}',
    natsAccounts(),
    '',
  ].join('\n')
}

export async function startLabNats(layout: LabLayout, state: LabState): Promise<PidRecord> {
  const configFile = join(layout.nats, 'nats.conf')
  await writeFileAtomic(configFile, natsConfig(layout, state))
  const log = join(layout.logs, 'nats.log')
  const record = await startDetached({
    name: 'nats',
    command: 'nats-server',
    args: ['-c', configFile],
    log,
    runDir: layout.run,
    // The users' passwords, which the configuration names as $KRBFLEET_NATS_PASSWORD_<USER>.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(await natsPasswordEnv(layout)) },
  })
  await readyOrStopped(layout.run, record, () =>
    waitUntil('nats', 'ready (JetStream /healthz)', async () => (await natsReady(state)) === true, {
      timeoutMs: 20_000,
      process: record,
    }),
  )
  return record
}

/** /healthz of the monitoring port answers 200 once JetStream is up. */
export async function natsReady(state: LabState): Promise<boolean> {
  return (await httpStatus(`http://127.0.0.1:${port(state, 'natsMonitor')}/healthz`)) === 200
}

/**
 * Creates or checks the streams and buckets as the bootstrap identity (deploy/nats/bootstrap.ts, as
 * in production): the services may only verify them. Idempotent; run at every `lab up`.
 */
export async function bootstrapLabStreams(layout: LabLayout, state: LabState): Promise<void> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    KRBFLEET_NATS_URL: natsUrl(state),
    ...natsClientEnv(layout, bootstrapUser()),
  }
  const script = join(repoRoot, 'deploy', 'nats', 'bootstrap.ts')
  const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
    execFile(process.execPath, [script], { env, cwd: repoRoot }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
    )
  })
  if (result.code !== 0) {
    throw new Error(
      `nats bootstrap (streams and buckets) failed:\n${result.output.trim().split('\n').slice(-5).join('\n')}`,
    )
  }
}
