import { type Bus, busHealth, readEventLog, sequenceAt } from '@krbfleet/bus'
import type { ConsoleDeps } from '../../context.ts'

/** What the console reads from the bus itself (no service involved): the event log and the bus health. */
export function busReaders(bus: Pick<Bus, 'jsm'>): Required<Pick<ConsoleDeps, 'events' | 'bus'>> {
  return {
    events: { read: (o) => readEventLog(bus, o), sequenceAt: (at, subject) => sequenceAt(bus, at, subject) },
    bus: { health: () => busHealth(bus) },
  }
}
