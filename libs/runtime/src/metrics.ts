import { Gauge, Histogram, type Registry } from 'prom-client'

/**
 * The metrics every krbfleet service shares, on its /metrics (Prometheus): LDAP operation latency
 * (libs/directory's `observe` hook) and the lag of its durable consumers on the events stream.
 * Domain figures (rotations, SPN changes, agents' reports) are defined by the service that owns
 * them.
 */

/** `krbfleet_ldap_operation_seconds{operation, outcome}`: every LDAP operation, `ok` or its error code. */
export function ldapOperationMetric(
  registry: Registry,
): (operation: string, seconds: number, outcome: string) => void {
  const name = 'krbfleet_ldap_operation_seconds'
  // A service started again in the same process (tests) shares the registry's metric.
  const histogram =
    (registry.getSingleMetric(name) as Histogram | undefined) ??
    new Histogram({
      name,
      help: 'LDAP operations by operation and outcome (ok or the error code)',
      labelNames: ['operation', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    })
  // libs/directory names operations in words (`set password of`): as a label, `set_password`.
  const label = (operation: string) => operation.replace(/ of$/, '').replaceAll(' ', '_').toLowerCase()
  return (operation, seconds, outcome) => histogram.observe({ operation: label(operation), outcome }, seconds)
}

/**
 * `krbfleet_consumer_pending{durable}` and `krbfleet_consumer_ack_pending{durable}`: events not yet
 * delivered to, and delivered but not yet acknowledged by, each durable consumer, read from
 * JetStream when /metrics is scraped (`read`: consumer info; a consumer that cannot be read is left
 * out of that scrape).
 */
export function consumerLagMetric(
  registry: Registry,
  read: () => Promise<Array<{ durable: string; pending: number; ackPending: number }>>,
): void {
  let last: Promise<Array<{ durable: string; pending: number; ackPending: number }>> | undefined
  // One read per scrape for both gauges.
  const current = () => {
    last ??= read()
      .catch(() => [])
      .finally(() => {
        setTimeout(() => {
          last = undefined
        }, 100).unref()
      })
    return last
  }
  new Gauge({
    name: 'krbfleet_consumer_pending',
    help: 'Events on the stream not yet delivered to the durable consumer',
    labelNames: ['durable'],
    registers: [registry],
    async collect() {
      this.reset()
      for (const c of await current()) this.set({ durable: c.durable }, c.pending)
    },
  })
  new Gauge({
    name: 'krbfleet_consumer_ack_pending',
    help: 'Events delivered to the durable consumer and not yet acknowledged',
    labelNames: ['durable'],
    registers: [registry],
    async collect() {
      this.reset()
      for (const c of await current()) this.set({ durable: c.durable }, c.ackPending)
    },
  })
}
