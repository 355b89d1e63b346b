import { join } from 'node:path'
import { type LabLayout, writeFileAtomic } from './layout.ts'
import { type PidRecord, readyOrStopped, startDetached } from './processes.ts'
import { type LabState, port } from './state.ts'
import { httpStatus, waitUntil } from './wait.ts'

/**
 * The lab's nats-server: one server with JetStream, bound to 127.0.0.1 only, store under
 * `.lab/nats/jetstream` (kept across `down`/`up`, wiped by `reset`). No authentication: it is not
 * reachable from other hosts. deploy/nats shows the production shape (cluster, leaf nodes, users).
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
    '  max_file_store: 2GB',
    '}',
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
