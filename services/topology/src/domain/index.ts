export {
  buildDocument,
  decide,
  execute,
  findSite,
  type TopologyCommand,
  type TopologyCommandType,
  webNames,
} from './decide.ts'
export { boundDiff, diffTopology, eventsBetween, isEmptyDiff } from './diff.ts'
export type { TopologyEvent, TopologyEventType } from './events.ts'
export { evolve } from './evolve.ts'
