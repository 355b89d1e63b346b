export {
  type DraftHistory,
  type DraftVersion,
  type DraftWriter,
  type EnabledNumber,
  type PublishedMark,
  StaleRevision,
  type StoredDraft,
  TopologyStore,
} from './store.ts'
