import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { canListen, freePort } from '@krbfleet/testing'
import { type LabLayout, writeFileAtomic } from './layout.ts'

/**
 * What the lab remembers between runs (`.lab/lab.json`): its ports and DC address (so that the
 * URLs in `.lab/env` stay valid) and which one-time set-up steps are done.
 */
export interface LabState {
  dcAddress?: string
  ports: Record<string, number>
  /** The DC has the lab's OU, service identities and lab user. */
  directoryPrepared?: boolean
  /** The sample topology and account were loaded once; later runs keep what the operator changed. */
  sampleLoaded?: boolean
}

/** First choice of port for each listener; a busy one is replaced by a free port and remembered. */
export const preferredPorts: Record<string, number> = {
  nats: 14222,
  natsMonitor: 18222,
  console: 18080,
  'topology.health': 18091,
  'account.health': 18092,
  'spn-sync.health': 18093,
  'iis-agent.health': 18095,
}

export async function readState(layout: LabLayout): Promise<LabState> {
  if (!existsSync(layout.stateFile)) return { ports: {} }
  const state = JSON.parse(await readFile(layout.stateFile, 'utf8')) as LabState
  state.ports ??= {}
  return state
}

export async function writeState(layout: LabLayout, state: LabState): Promise<void> {
  await writeFileAtomic(layout.stateFile, `${JSON.stringify(state, null, 2)}\n`, 0o600)
}

/**
 * Gives every named listener a port that is free now: the remembered one, else the preferred one,
 * else any free port. Only called when none of the lab's processes is running.
 */
export async function allocatePorts(state: LabState, names: string[]): Promise<void> {
  const taken = new Set<number>()
  for (const name of names) {
    const candidates = [state.ports[name], preferredPorts[name]].filter((p): p is number => p !== undefined)
    let chosen: number | undefined
    for (const port of candidates) {
      if (!taken.has(port) && (await canListen(port))) {
        chosen = port
        break
      }
    }
    while (chosen === undefined || taken.has(chosen)) chosen = await freePort()
    taken.add(chosen)
    state.ports[name] = chosen
  }
}

export function port(state: LabState, name: string): number {
  const value = state.ports[name]
  if (value === undefined) throw new Error(`no port allocated for ${name}`)
  return value
}
