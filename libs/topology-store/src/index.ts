export { applyDelta, deltaBetween, isEmptyDelta, keyedChanges, TopologyDelta } from './delta.ts'
export {
  type DraftChange,
  type DraftWriter,
  type EnabledNumber,
  type PublishedMark,
  type RevisionPointer,
  StaleRevision,
  type StoredDraft,
  TopologyStore,
} from './store.ts'
