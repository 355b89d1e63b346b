import {
  type ChangeResult,
  type EventEnvelope,
  emptyTopology,
  ErrorCode,
  KrbfleetError,
  normalizeFqdn,
  type Pool,
  TopologyEnabled,
  type TopologyDocument,
  type TopologyDocumentInput,
  ValidationError,
} from '@krbfleet/contracts'
import { InFlight } from '@krbfleet/bus'
import { deltaBetween, isEmptyDelta, StaleRevision, type TopologyStore } from '@krbfleet/topology-store'
import type { Logger } from 'pino'
import { toEnvelope } from './adapters/nats/events.ts'
import {
  boundDiff,
  decide,
  diffTopology,
  eventsBetween,
  evolve,
  findSite,
  isEmptyDiff,
  type TopologyCommand,
} from './domain/index.ts'

export interface ChangeMeta {
  actor: string
  correlationId?: string
  dryRun?: boolean
}

export interface TopologyServiceOptions {
  store: TopologyStore
  /** Publishes an event with msgID = envelope.id (libs/bus `bus.publish`). */
  publish: (envelope: EventEnvelope) => Promise<unknown>
  logger: Logger
  /** Enable every change at once (no separate `topology enable`). */
  autoEnable?: boolean
  /** Attempts of one compare-and-set before answering 409 (default 5). */
  casAttempts?: number
  now?: () => Date
  /** catchUp() leaves draft versions younger than this to their writer (default 10 s). */
  catchUpGraceMs?: number
}

export interface TopologyView {
  source: 'draft' | 'enabled' | 'revision'
  /** The draft's KV revision, or the enabled revision number shown. */
  revision: number
  enabledRevision: number
  topology: TopologyDocument
  enabledAt?: string
  enabledBy?: string
}

/**
 * The topology service's use cases: read the draft, decide, write with compare-and-set (retrying
 * a few times on a stale revision, then 409), and publish the events after the write with ids
 * derived from the new draft revision, so that a retried publish is dropped as a duplicate.
 */
export class TopologyService {
  readonly #store: TopologyStore
  readonly #publish: (envelope: EventEnvelope) => Promise<unknown>
  readonly #logger: Logger
  readonly #autoEnable: boolean
  readonly #attempts: number
  readonly #now: () => Date
  readonly #catchUpGraceMs: number
  #caughtUpAt = Number.NEGATIVE_INFINITY

  constructor(options: TopologyServiceOptions) {
    this.#store = options.store
    this.#publish = options.publish
    this.#logger = options.logger.child({ component: 'topology' })
    this.#autoEnable = options.autoEnable ?? false
    this.#attempts = options.casAttempts ?? 5
    this.#now = options.now ?? (() => new Date())
    this.#catchUpGraceMs = options.catchUpGraceMs ?? 10_000
  }

  get autoEnable(): boolean {
    return this.#autoEnable
  }

  /** Decides a command against the draft and, unless a dry run, writes and publishes it. */
  async change(command: TopologyCommand, meta: ChangeMeta): Promise<ChangeResult> {
    if (!meta.dryRun) await this.#catchUpNow()
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      const { topology, revision } = await this.#store.readDraft()
      const events = decide(topology, command)
      const next = events.reduce(evolve, topology)
      const diff =
        command.type === 'applyDocument'
          ? { diff: boundDiff(diffTopology(topology, next), ANSWER_NAMES) }
          : {}
      if (meta.dryRun || events.length === 0) {
        const changes = listed(events.map((e, i) => toEnvelope(e, this.#meta(meta, `dry-${i}`))))
        return { dryRun: meta.dryRun === true, ...changes, draftRevision: revision, ...diff }
      }
      let written: number
      try {
        written = await this.#store.updateDraft(next, revision, {
          actor: meta.actor,
          ...(meta.correlationId ? { correlationId: meta.correlationId } : {}),
        })
      } catch (err) {
        if (err instanceof StaleRevision) {
          this.#logger.debug({ attempt, command: command.type }, 'draft changed concurrently; deciding again')
          await backoff(attempt)
          continue
        }
        throw err
      }
      // What is published is a function of the two drafts (the decided events in canonical order,
      // see the property test), so that catchUp() can publish it again with the same ids.
      const envelopes = eventsBetween(topology, next).map((e, i) =>
        toEnvelope(e, this.#meta(meta, `topology-${written}-${i}`)),
      )
      try {
        await this.#publishAll(envelopes)
      } catch (err) {
        // The draft is written; say so, so that the caller does not repeat the change blindly.
        this.#logger.error(
          { err, draftRevision: written },
          'draft written but its events were not all published',
        )
        throw new KrbfleetError(
          ErrorCode.Unavailable,
          `the change was written (draft revision ${written}) but its events could not all be published; the next enable still carries it`,
          { cause: err, retryable: false, details: { draftRevision: written } },
        )
      }
      await this.#mark({ draft: written })
      this.#logger.info(
        {
          actor: meta.actor,
          command: command.type,
          draftRevision: written,
          events: envelopes.map((e) => e.type),
        },
        'draft changed',
      )
      const result: ChangeResult = {
        dryRun: false,
        ...listed(envelopes),
        draftRevision: written,
        ...diff,
      }
      if (this.#autoEnable)
        result.enabledRevision = (await this.enable({ ...meta, dryRun: false })).enabledRevision
      return result
    }
    throw this.#conflict('draft')
  }

  /** What applying a document would change (never writes). */
  plan(document: TopologyDocumentInput, meta: ChangeMeta): Promise<ChangeResult> {
    return this.change({ type: 'applyDocument', document }, { ...meta, dryRun: true })
  }

  /**
   * Publishes the draft as revision n+1: create `revision.<n+1>`, then move `enabled` from n to n+1
   * with compare-and-set, then publish TopologyEnabled (id derived from n+1). An enable that died
   * between the two writes left `revision.<n+1>` behind: the next enable finishes it first.
   */
  async enable(meta: ChangeMeta): Promise<ChangeResult> {
    if (!meta.dryRun) await this.#catchUpNow()
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      const { topology, revision: draftRevision } = await this.#store.readDraft()
      const pointer = await this.#store.readEnabledNumber()
      const n = pointer.enabled
      const previous =
        n > 0 ? ((await this.#store.readRevision(n))?.topology ?? emptyTopology()) : emptyTopology()
      const full = diffTopology(previous, topology)
      const diff = boundDiff(full, ANSWER_NAMES)
      const unchanged = n > 0 && isEmptyDiff(full) && isEmptyDelta(deltaBetween(previous, topology))
      if (unchanged) {
        return { dryRun: meta.dryRun === true, changes: [], draftRevision, enabledRevision: n, diff }
      }
      const data = { revision: n + 1, previousRevision: n, summary: boundDiff(full, EVENT_NAMES) }
      if (meta.dryRun) {
        const would = TopologyEnabled.create(data, this.#meta(meta, 'dry-enable'))
        return { dryRun: true, changes: [summary(would)], draftRevision, enabledRevision: n, diff }
      }
      // Before the revision exists: the readers that wake up to it (spn-sync, the account service)
      // start from this snapshot if they start cold, instead of folding every change.
      await this.#snapshot(draftRevision)
      let snapshot = topology
      let theirs = false
      try {
        await this.#store.createRevision({
          revision: n + 1,
          enabledAt: this.#now().toISOString(),
          enabledBy: meta.actor,
          draft: draftRevision,
        })
      } catch (err) {
        if (!(err instanceof StaleRevision)) throw err
        // revision.<n+1> exists: another enable is between its writes, or died there. Finish it.
        const orphan = await this.#store.readRevision(n + 1)
        if (!orphan) continue
        snapshot = orphan.topology
        theirs = true
      }
      try {
        await this.#store.updateEnabledNumber(n + 1, pointer.revision)
      } catch (err) {
        if (!(err instanceof StaleRevision)) throw err
        const now = await this.#store.readEnabledNumber()
        // Someone else moved the pointer to our revision (finishing it): it is enabled all the same.
        if (now.enabled !== n + 1 || theirs) continue
      }
      const summaryDiff = theirs ? diffTopology(previous, snapshot) : full
      const event = TopologyEnabled.create(
        { revision: n + 1, previousRevision: n, summary: boundDiff(summaryDiff, EVENT_NAMES) },
        this.#meta(meta, `topology-enabled-${n + 1}`),
      )
      await this.#publish(event)
      await this.#mark({ enabled: n + 1 })
      this.#logger.info(
        { actor: meta.actor, revision: n + 1, summary: event.data.summary },
        'topology enabled',
      )
      if (theirs) continue // we finished someone else's enable; now enable this draft
      return {
        dryRun: false,
        changes: [summary(event)],
        draftRevision,
        enabledRevision: n + 1,
        diff: boundDiff(summaryDiff, ANSWER_NAMES),
      }
    }
    throw this.#conflict('enabled revision')
  }

  /**
   * Publishes what a crash (or a failed publish) left unpublished: the events of draft versions
   * written after the publication mark, and TopologyEnabled of enabled revisions after it. Events are
   * rebuilt from each stored change (the states on either side of it) with the ids of the first
   * attempt, so that anything already stored is dropped as a duplicate. A version younger than
   * `catchUpGraceMs` is left alone: its writer is most likely still publishing it.
   */
  async catchUp(): Promise<void> {
    const mark = await this.#store.readPublished()
    const { revision: draftRevision } = await this.#store.readDraft()
    const { enabled } = await this.#store.readEnabledNumber()
    if (draftRevision <= mark.draft && enabled <= mark.enabled) return
    if (!mark.exists) {
      // A bucket with history but no mark: what was published cannot be told apart, so marking
      // starts from here rather than publishing every version again.
      if (draftRevision > 1 || enabled > 1) {
        await this.#mark({ draft: draftRevision, enabled })
        return
      }
    }
    if (draftRevision > mark.draft) await this.#catchUpDraft(mark.draft)
    if (enabled > mark.enabled) await this.#catchUpEnabled(mark.enabled, enabled)
  }

  async #catchUpDraft(markedDraft: number): Promise<void> {
    const settledBefore = this.#now().getTime() - this.#catchUpGraceMs
    let done = markedDraft
    for await (const change of this.#store.changesAfter(markedDraft)) {
      if (change.created.getTime() > settledBefore) break
      const events = eventsBetween(change.before, change.after)
      await this.#publishAll(
        events.map((e, j) =>
          toEnvelope(e, {
            id: `topology-${change.revision}-${j}`,
            // The writer's own actor and correlation id, as its first attempt sent them.
            actor: change.writer.actor,
            ...(change.writer.correlationId ? { correlationId: change.writer.correlationId } : {}),
            occurredAt: change.created.toISOString(),
          }),
        ),
      )
      if (events.length > 0) {
        this.#logger.warn(
          { draftRevision: change.revision, events: events.length },
          'published events a writer left behind',
        )
      }
      done = change.revision
    }
    if (done > markedDraft) await this.#mark({ draft: done })
  }

  /**
   * Publishes in order with up to PUBLISH_WINDOW acknowledgements outstanding: one connection keeps
   * the order on the stream, and a change of thousands of servers does not wait one ack at a time.
   */
  async #publishAll(envelopes: EventEnvelope[]): Promise<void> {
    // A failed publish fails the next run (no later event is started) or the drain.
    const window = new InFlight(PUBLISH_WINDOW)
    for (const envelope of envelopes) {
      await window.run(async () => {
        await this.#publish(envelope)
      })
    }
    await window.drain()
  }

  async #catchUpEnabled(markedEnabled: number, enabled: number): Promise<void> {
    for (let m = Math.max(1, markedEnabled + 1); m <= enabled; m++) {
      const revision = await this.#store.readRevision(m)
      if (!revision) continue
      const previous =
        m > 1 ? ((await this.#store.readRevision(m - 1))?.topology ?? emptyTopology()) : emptyTopology()
      await this.#publish(
        TopologyEnabled.create(
          {
            revision: m,
            previousRevision: m - 1,
            summary: boundDiff(diffTopology(previous, revision.topology), EVENT_NAMES),
          },
          { id: `topology-enabled-${m}`, actor: revision.enabledBy, occurredAt: revision.enabledAt },
        ),
      )
    }
    await this.#mark({ enabled })
  }

  /**
   * catchUp() before a change, at most once per second (or per grace period, when shorter): what a
   * crashed writer left is younger than the grace period anyway, and a burst of enrolments then
   * pays three reads less each.
   */
  async #catchUpNow(): Promise<void> {
    const now = this.#now().getTime()
    if (now - this.#caughtUpAt < Math.min(1000, this.#catchUpGraceMs)) return
    await this.catchUp()
    this.#caughtUpAt = now
  }

  /** A snapshot failing is not fatal: it only spares cold readers a longer fold. */
  async #snapshot(draftRevision: number): Promise<void> {
    try {
      if (await this.#store.snapshot(draftRevision))
        this.#logger.info({ draftRevision }, 'topology snapshot written')
    } catch (err) {
      this.#logger.warn({ err, draftRevision }, 'topology snapshot not written; the next enable tries again')
    }
  }

  /** Marks failing is not fatal: catchUp publishes again under the same ids. */
  async #mark(mark: { draft?: number; enabled?: number }): Promise<void> {
    try {
      await this.#store.markPublished(mark)
    } catch (err) {
      this.#logger.warn({ err, mark }, 'publication mark not written')
    }
  }

  /** `draft` (default), `enabled`, or a revision number. */
  async get(source: string | undefined): Promise<TopologyView> {
    const wanted = source?.trim() || 'draft'
    const { enabled } = await this.#store.readEnabledNumber()
    if (wanted === 'draft') {
      const { topology, revision } = await this.#store.readDraft()
      return { source: 'draft', revision, enabledRevision: enabled, topology }
    }
    let n: number
    if (wanted === 'enabled') n = enabled
    else if (/^[0-9]{1,9}$/.test(wanted) && Number(wanted) >= 1) n = Number(wanted)
    else {
      throw new ValidationError(
        [{ field: 'source', rule: `'${source}' must be draft, enabled or a revision number (1 or more)` }],
        'request',
      )
    }
    if (n === 0) return { source: 'enabled', revision: 0, enabledRevision: 0, topology: emptyTopology() }
    const found = await this.#store.readRevision(n)
    if (!found)
      throw new KrbfleetError(ErrorCode.NotFound, `source: revision ${n} does not exist`, { field: 'source' })
    return {
      source: wanted === 'enabled' ? 'enabled' : 'revision',
      revision: n,
      enabledRevision: enabled,
      topology: found.topology,
      enabledAt: found.enabledAt,
      enabledBy: found.enabledBy,
    }
  }

  async listSites(source?: string) {
    const { topology: t } = await this.get(source)
    return {
      sites: t.sites.map((s) => {
        const pools = new Set(t.pools.filter((p) => p.site === s.name).map((p) => p.fqdn))
        const account = t.assignments.find((a) => a.site === s.name)?.account
        return {
          name: s.name,
          pools: pools.size,
          servers: t.servers.filter((x) => pools.has(x.pool)).length,
          ...(account ? { account } : {}),
          ...(s.ntlmOnly ? { ntlmOnly: true } : {}),
        }
      }),
    }
  }

  async listPools(filter: { site?: string; source?: string }): Promise<{ pools: Pool[] }> {
    const { topology: t } = await this.get(filter.source)
    const site = filter.site === undefined ? undefined : siteFilter(t, filter.site)
    return { pools: t.pools.filter((p) => site === undefined || p.site === site) }
  }

  /** Get-CsService -WebServer: every server with its pool, site, backend and enrolment. */
  async listServers(filter: { site?: string; pool?: string; source?: string }) {
    const { topology: t } = await this.get(filter.source)
    const site = filter.site === undefined ? undefined : siteFilter(t, filter.site)
    let pool: string | undefined
    if (filter.pool !== undefined) {
      pool = normalizeFqdn(filter.pool, 'pool')
      if (!t.pools.some((p) => p.fqdn === pool)) {
        throw new KrbfleetError(ErrorCode.NotFound, `pool: pool '${pool}' does not exist`, { field: 'pool' })
      }
    }
    const sites = new Map(t.pools.map((p) => [p.fqdn, p.site]))
    const siteOf = (p: string) => sites.get(p) ?? ''
    const enrolled = new Set(t.agents.map((a) => a.server))
    return {
      servers: t.servers
        .filter(
          (s) => (pool === undefined || s.pool === pool) && (site === undefined || siteOf(s.pool) === site),
        )
        .map((s) => ({
          fqdn: s.fqdn,
          pool: s.pool,
          site: siteOf(s.pool),
          backend: s.backend,
          enrolled: enrolled.has(s.fqdn),
        })),
    }
  }

  async getAssignments(filter: { site?: string; source?: string }) {
    const { topology: t } = await this.get(filter.source)
    const site = filter.site === undefined ? undefined : siteFilter(t, filter.site)
    return { assignments: t.assignments.filter((a) => site === undefined || a.site === site) }
  }

  #meta(meta: ChangeMeta, id: string) {
    return {
      id,
      actor: meta.actor,
      ...(meta.correlationId ? { correlationId: meta.correlationId } : {}),
      occurredAt: this.#now().toISOString(),
    }
  }

  #conflict(what: string): KrbfleetError {
    return new KrbfleetError(
      ErrorCode.Conflict,
      `the topology ${what} changed concurrently ${this.#attempts} times in a row; nothing was written by this request, retry it`,
      { retryable: true },
    )
  }
}

/**
 * Names listed per list of a diff: in an answer (within NATS's 1 MiB message), and in the
 * TopologyEnabled summary (within the events stream's 64 KiB). The rest are counted (`omitted`).
 */
const ANSWER_NAMES = 1000
const EVENT_NAMES = 100

/** The events of a change as an answer lists them: the first ANSWER_NAMES, the rest counted. */
function listed(envelopes: EventEnvelope[]): Pick<ChangeResult, 'changes' | 'changesOmitted'> {
  const changes = envelopes.slice(0, ANSWER_NAMES).map(summary)
  const omitted = envelopes.length - changes.length
  return omitted > 0 ? { changes, changesOmitted: omitted } : { changes }
}

/** Event publications awaiting their acknowledgement at once (see #publishAll). */
const PUBLISH_WINDOW = 256

/** A short random wait, so that writers who lost a race do not collide again at once. */
function backoff(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt))
}

function siteFilter(t: TopologyDocument, name: string): string {
  const site = findSite(t, name)
  if (site === undefined)
    throw new KrbfleetError(ErrorCode.NotFound, `site: site '${name}' does not exist`, { field: 'site' })
  return site
}

function summary(envelope: EventEnvelope): { type: string; data: unknown } {
  return { type: envelope.type.split('.')[2] ?? envelope.type, data: envelope.data }
}
