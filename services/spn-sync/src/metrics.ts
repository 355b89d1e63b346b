import { Counter, Histogram, type Registry } from 'prom-client'
import type { ReconcileMetrics } from './reconcile.ts'

/** Prometheus metrics of the reconciler, registered on the health server's registry. */
export function createSpnMetrics(registry: Registry): ReconcileMetrics {
  const reconciles = new Counter({
    name: 'krbfleet_spn_reconciles_total',
    help: 'Account reconciles by outcome (changed, unchanged, missing-account, failed)',
    labelNames: ['outcome'],
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'krbfleet_spn_reconcile_duration_seconds',
    help: 'Duration of one account reconcile',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  const changes = new Counter({
    name: 'krbfleet_spn_changes_total',
    help: 'SPNs written to AD by spn-sync, by operation (add, remove)',
    labelNames: ['operation'],
    registers: [registry],
  })
  const conflicts = new Counter({
    name: 'krbfleet_spn_conflicts_total',
    help: 'Desired SPNs found held by another object (reported as SpnConflictDetected)',
    registers: [registry],
  })
  const deferred = new Counter({
    name: 'krbfleet_spn_reconciles_deferred_total',
    help: 'Account reconciles put off because another spn-sync replica held the account lease',
    registers: [registry],
  })
  for (const outcome of ['changed', 'unchanged', 'missing-account', 'failed']) reconciles.labels(outcome)
  for (const operation of ['add', 'remove']) changes.labels(operation)
  return {
    reconciled(outcome, seconds) {
      reconciles.inc({ outcome })
      duration.observe(seconds)
    },
    changed(added, removed) {
      changes.inc({ operation: 'add' }, added)
      changes.inc({ operation: 'remove' }, removed)
    },
    conflictsDetected(count) {
      conflicts.inc(count)
    },
    deferred() {
      deferred.inc()
    },
  }
}
