import {
  type AgentEnrolment,
  AgentBackend,
  ErrorCode,
  KrbfleetError,
  normalizeFqdn,
  type Pool,
  type PoolInput,
  type PoolPatch,
  parseAccountName,
  type Server,
  type ServerInput,
  type TopologyDocument,
  type TopologyDocumentInput,
} from '@krbfleet/contracts'
import { eventsBetween, samePool } from './diff.ts'
import type { TopologyEvent } from './events.ts'
import { evolve } from './evolve.ts'

/**
 * The topology decider (STYLE rule 3): `decide(state, command)` returns the events a command
 * causes, or throws a KrbfleetError (rule_violation, not_found, already_exists, conflict) naming the
 * field and the rule; nothing changes then. Pure: no I/O, no clock (the caller passes times in).
 */
export type TopologyCommand =
  | { type: 'addSite'; name: string; ntlmOnly?: boolean }
  | { type: 'setSite'; name: string; ntlmOnly: boolean }
  | { type: 'removeSite'; name: string; force?: boolean }
  | { type: 'addPool'; pool: PoolInput }
  | { type: 'setPool'; patch: PoolPatch }
  | { type: 'removePool'; fqdn: string; force?: boolean }
  | { type: 'addServer'; server: ServerInput }
  | { type: 'removeServer'; fqdn: string }
  | { type: 'newAssignment'; site: string; account: string }
  | { type: 'setAssignment'; site: string; account: string }
  | { type: 'removeAssignment'; site: string }
  | { type: 'enrolAgent'; server: string; encryptionKey: string; enrolledAt: string }
  | { type: 'applyDocument'; document: TopologyDocumentInput }

export type TopologyCommandType = TopologyCommand['type']

const siteNamePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
const publicKeyPattern = /^[A-Za-z0-9_-]{43}=?$/

function ruleViolation(field: string, message: string): KrbfleetError {
  return new KrbfleetError(ErrorCode.RuleViolation, `${field}: ${message}`, { field })
}
function notFound(field: string, message: string): KrbfleetError {
  return new KrbfleetError(ErrorCode.NotFound, `${field}: ${message}`, { field })
}
function alreadyExists(field: string, message: string, details?: Record<string, unknown>): KrbfleetError {
  return new KrbfleetError(ErrorCode.AlreadyExists, `${field}: ${message}`, {
    field,
    ...(details ? { details } : {}),
  })
}
function conflict(field: string, message: string, details?: Record<string, unknown>): KrbfleetError {
  return new KrbfleetError(ErrorCode.Conflict, `${field}: ${message}`, {
    field,
    ...(details ? { details } : {}),
  })
}

const join = (prefix: string, field: string) => (prefix ? `${prefix}.${field}` : field)

/** Site names are identities like Lync's `site:Redmond`: compared without regard to case. */
export function findSite(state: TopologyDocument, name: string): string | undefined {
  const wanted = name.trim().toLowerCase()
  return state.sites.find((s) => s.name.toLowerCase() === wanted)?.name
}

function checkSiteName(name: string, field: string): string {
  const trimmed = name.trim()
  if (!siteNamePattern.test(trimmed)) {
    throw ruleViolation(
      field,
      `'${name}' is not a valid site name: 1-64 letters, digits, '.', '-' or '_', starting with a letter or digit`,
    )
  }
  return trimmed
}

function requireSite(state: TopologyDocument, name: string, field: string): string {
  const site = findSite(state, name)
  if (site === undefined) throw notFound(field, `site '${name}' does not exist`)
  return site
}

function requirePool(state: TopologyDocument, fqdn: string, field: string): Pool {
  const name = normalizeFqdn(fqdn, field)
  const pool = state.pools.find((p) => p.fqdn === name)
  if (!pool) throw notFound(field, `pool '${name}' does not exist`)
  return pool
}

function requireServer(state: TopologyDocument, fqdn: string, field: string): Server {
  const name = normalizeFqdn(fqdn, field)
  const server = state.servers.find((s) => s.fqdn === name)
  if (!server) throw notFound(field, `server '${name}' does not exist`)
  return server
}

function siteOfPool(state: TopologyDocument, pool: string): string {
  return state.pools.find((p) => p.fqdn === pool)?.site ?? ''
}

/** Every name a pool answers on; each one becomes an HTTP SPN, so no two pools may share one. */
export function webNames(pool: Pool): string[] {
  const names = [pool.fqdn, ...pool.loadBalancerNames, ...pool.aliases]
  if (pool.internalWebFqdn) names.push(pool.internalWebFqdn)
  if (pool.externalWebFqdn) names.push(pool.externalWebFqdn)
  return [...new Set(names)]
}

function normalizeNames(values: string[], field: string): string[] {
  return [...new Set(values.map((v, i) => normalizeFqdn(v, `${field}.${i}`)))]
}

/** The canonical pool from an input (or a patch applied to the current pool). */
function buildPool(input: PoolPatch, current: Pool | undefined, site: string, prefix: string): Pool {
  const pool: Pool = {
    fqdn: normalizeFqdn(input.fqdn, join(prefix, 'fqdn')),
    site,
    webServices: input.webServices ?? current?.webServices ?? true,
    loadBalancerNames:
      input.loadBalancerNames !== undefined
        ? normalizeNames(input.loadBalancerNames, join(prefix, 'loadBalancerNames'))
        : (current?.loadBalancerNames ?? []),
    aliases:
      input.aliases !== undefined
        ? normalizeNames(input.aliases, join(prefix, 'aliases'))
        : (current?.aliases ?? []),
    shortNameSpns: input.shortNameSpns ?? current?.shortNameSpns ?? false,
  }
  for (const key of ['internalWebFqdn', 'externalWebFqdn'] as const) {
    const value = input[key] === undefined ? current?.[key] : input[key]
    if (value !== undefined && value !== null) pool[key] = normalizeFqdn(value, join(prefix, key))
  }
  return pool
}

/** The names of `pool` must not be claimed by any other pool (a duplicate SPN in the making). */
function checkWebNamesFree(state: TopologyDocument, pool: Pool, prefix: string): void {
  for (const other of state.pools) {
    if (other.fqdn === pool.fqdn) continue
    const taken = new Set(webNames(other))
    for (const [key, value] of fieldNames(pool)) {
      if (taken.has(value)) {
        throw conflict(
          join(prefix, key),
          `'${value}' is already a name of pool '${other.fqdn}'; each web name belongs to one pool (one SPN, one account)`,
          { pool: other.fqdn },
        )
      }
    }
  }
}

function fieldNames(pool: Pool): [string, string][] {
  const out: [string, string][] = [['fqdn', pool.fqdn]]
  if (pool.internalWebFqdn) out.push(['internalWebFqdn', pool.internalWebFqdn])
  if (pool.externalWebFqdn) out.push(['externalWebFqdn', pool.externalWebFqdn])
  pool.loadBalancerNames.forEach((n, i) => {
    out.push([`loadBalancerNames.${i}`, n])
  })
  pool.aliases.forEach((n, i) => {
    out.push([`aliases.${i}`, n])
  })
  return out
}

function decideAddSite(
  state: TopologyDocument,
  name: string,
  ntlmOnly: boolean,
  prefix = '',
): TopologyEvent[] {
  const field = join(prefix, 'name')
  const site = checkSiteName(name, field)
  const existing = findSite(state, site)
  if (existing !== undefined) throw alreadyExists(field, `site '${existing}' already exists`)
  return [ntlmOnly ? { type: 'SiteAdded', site, ntlmOnly: true } : { type: 'SiteAdded', site }]
}

/** The NTLM-only mark says "no Kerberos account here on purpose", so it excludes an assignment. */
function decideSetSite(state: TopologyDocument, name: string, ntlmOnly: boolean): TopologyEvent[] {
  const site = requireSite(state, name, 'name')
  if ((state.sites.find((s) => s.name === site)?.ntlmOnly === true) === ntlmOnly) return []
  const assignment = state.assignments.find((a) => a.site === site)
  if (ntlmOnly && assignment) {
    throw conflict(
      'ntlmOnly',
      `site '${site}' has the Kerberos account ${assignment.account} assigned; a site marked NTLM only has none (remove the assignment first)`,
      { account: assignment.account },
    )
  }
  return [{ type: 'SiteChanged', site, ntlmOnly }]
}

/** The events that take a pool and its servers out of the topology. */
function removePoolEvents(state: TopologyDocument, pool: Pool): TopologyEvent[] {
  const events: TopologyEvent[] = state.servers
    .filter((s) => s.pool === pool.fqdn)
    .map((s) => ({ type: 'ServerRemovedFromSite', server: s.fqdn, pool: pool.fqdn, site: pool.site }))
  events.push({ type: 'PoolRemoved', pool: pool.fqdn, site: pool.site })
  return events
}

function decideRemoveSite(state: TopologyDocument, name: string, force: boolean): TopologyEvent[] {
  const site = requireSite(state, name, 'name')
  const pools = state.pools.filter((p) => p.site === site)
  if (pools.length > 0 && !force) {
    throw ruleViolation(
      'name',
      `site '${site}' still has ${pools.length} pool(s) (${pools.map((p) => p.fqdn).join(', ')}); remove them first or force the removal`,
    )
  }
  const events = pools.flatMap((p) => removePoolEvents(state, p))
  const assignment = state.assignments.find((a) => a.site === site)
  if (assignment) events.push({ type: 'KerberosAccountUnassigned', site, account: assignment.account })
  events.push({ type: 'SiteRemoved', site })
  return events
}

function decideAddPool(state: TopologyDocument, input: PoolInput, prefix = ''): TopologyEvent[] {
  const site = requireSite(state, input.site, join(prefix, 'site'))
  const pool = buildPool(input, undefined, site, prefix)
  const existing = state.pools.find((p) => p.fqdn === pool.fqdn)
  if (existing) {
    throw alreadyExists(
      join(prefix, 'fqdn'),
      `pool '${pool.fqdn}' already exists in site '${existing.site}'; a pool belongs to exactly one site`,
      { site: existing.site },
    )
  }
  checkWebNamesFree(state, pool, prefix)
  return [{ type: 'PoolAdded', pool }]
}

function decideSetPool(state: TopologyDocument, patch: PoolPatch & { site?: unknown }): TopologyEvent[] {
  const current = requirePool(state, patch.fqdn, 'fqdn')
  if (patch.site !== undefined) {
    throw ruleViolation('site', 'a pool cannot move to another site; remove it and add it to the other site')
  }
  const pool = buildPool(patch, current, current.site, '')
  checkWebNamesFree(state, pool, '')
  if (samePool(pool, current)) return []
  return [{ type: 'PoolChanged', pool, previous: current }]
}

function decideRemovePool(state: TopologyDocument, fqdn: string, force: boolean): TopologyEvent[] {
  const pool = requirePool(state, fqdn, 'fqdn')
  const servers = state.servers.filter((s) => s.pool === pool.fqdn)
  if (servers.length > 0 && !force) {
    throw ruleViolation(
      'fqdn',
      `pool '${pool.fqdn}' still has ${servers.length} server(s) (${servers.map((s) => s.fqdn).join(', ')}); remove them first or force the removal`,
    )
  }
  return removePoolEvents(state, pool)
}

function decideAddServer(state: TopologyDocument, input: ServerInput, prefix = ''): TopologyEvent[] {
  const fqdn = normalizeFqdn(input.fqdn, join(prefix, 'fqdn'))
  const pool = requirePool(state, input.pool, join(prefix, 'pool'))
  const existing = state.servers.find((s) => s.fqdn === fqdn)
  if (existing) {
    throw alreadyExists(
      join(prefix, 'fqdn'),
      `server '${fqdn}' is already in pool '${existing.pool}'; a server belongs to exactly one pool`,
      { pool: existing.pool },
    )
  }
  const backend = input.backend ?? AgentBackend.Iis
  return [{ type: 'ServerAddedToSite', server: fqdn, pool: pool.fqdn, site: pool.site, backend }]
}

function decideRemoveServer(state: TopologyDocument, fqdn: string): TopologyEvent[] {
  const server = requireServer(state, fqdn, 'fqdn')
  return [
    {
      type: 'ServerRemovedFromSite',
      server: server.fqdn,
      pool: server.pool,
      site: siteOfPool(state, server.pool),
    },
  ]
}

function decideNewAssignment(
  state: TopologyDocument,
  siteName: string,
  accountName: string,
  prefix = '',
): TopologyEvent[] {
  const site = requireSite(state, siteName, join(prefix, 'site'))
  const account = parseAccountName(accountName, join(prefix, 'account')).id
  if (state.sites.find((s) => s.name === site)?.ntlmOnly === true) {
    throw conflict(
      join(prefix, 'site'),
      `site '${site}' is marked NTLM only; take the mark away first (site set ${site} --no-ntlm-only)`,
    )
  }
  const existing = state.assignments.find((a) => a.site === site)
  if (existing) {
    throw conflict(
      join(prefix, 'site'),
      `site '${site}' already has the Kerberos account ${existing.account}; a site has at most one account (use set to replace it)`,
      { account: existing.account },
    )
  }
  return [{ type: 'KerberosAccountAssigned', site, account }]
}

function decideSetAssignment(
  state: TopologyDocument,
  siteName: string,
  accountName: string,
): TopologyEvent[] {
  const site = requireSite(state, siteName, 'site')
  const account = parseAccountName(accountName, 'account').id
  const existing = state.assignments.find((a) => a.site === site)
  if (!existing) {
    throw notFound(
      'site',
      `site '${site}' has no Kerberos account assignment to replace (use new to create one)`,
    )
  }
  if (existing.account === account) return []
  return [{ type: 'KerberosAccountAssigned', site, account, previousAccount: existing.account }]
}

function decideRemoveAssignment(state: TopologyDocument, siteName: string): TopologyEvent[] {
  const site = requireSite(state, siteName, 'site')
  const existing = state.assignments.find((a) => a.site === site)
  if (!existing) throw notFound('site', `site '${site}' has no Kerberos account assignment`)
  return [{ type: 'KerberosAccountUnassigned', site, account: existing.account }]
}

function decideEnrolAgent(
  state: TopologyDocument,
  command: Extract<TopologyCommand, { type: 'enrolAgent' }>,
): TopologyEvent[] {
  const server = requireServer(state, command.server, 'server')
  if (!publicKeyPattern.test(command.encryptionKey)) {
    throw ruleViolation('encryptionKey', 'must be the base64url form of a 32-byte X25519 public key')
  }
  const agent: AgentEnrolment = {
    server: server.fqdn,
    encryptionKey: command.encryptionKey,
    enrolledAt: command.enrolledAt,
  }
  const existing = state.agents.find((a) => a.server === server.fqdn)
  // Re-enrolling with the same key is a no-op, so an agent may enrol at every start.
  if (existing && existing.encryptionKey === agent.encryptionKey) return []
  return [{ type: 'AgentEnrolled', agent }]
}

/**
 * A whole document, canonical and checked against every rule, built by replaying it as commands
 * on an empty topology so that each error names its place in the document (`pools.2.site`).
 * Enrolments are not part of a declarative document (apply keeps those of unchanged servers).
 */
export function buildDocument(input: TopologyDocumentInput): TopologyDocument {
  let doc: TopologyDocument = { sites: [], pools: [], servers: [], assignments: [], agents: [] }
  const run = (events: TopologyEvent[]) => {
    for (const e of events) doc = evolve(doc, e)
  }
  ;(input.sites ?? []).forEach((s, i) => {
    run(decideAddSite(doc, s.name, s.ntlmOnly === true, `sites.${i}`))
  })
  ;(input.pools ?? []).forEach((p, i) => {
    run(decideAddPool(doc, p, `pools.${i}`))
  })
  ;(input.servers ?? []).forEach((s, i) => {
    run(decideAddServer(doc, s, `servers.${i}`))
  })
  ;(input.assignments ?? []).forEach((a, i) => {
    run(decideNewAssignment(doc, a.site, a.account, `assignments.${i}`))
  })
  return doc
}

function decideApply(state: TopologyDocument, input: TopologyDocumentInput): TopologyEvent[] {
  // A site named again with other letter case is the same site, not a removal and an addition.
  const sites = input.sites?.map((s) => ({ ...s, name: findSite(state, s.name) ?? s.name }))
  const target = buildDocument(sites ? { ...input, sites } : input)
  const kept = state.agents.filter((agent) => {
    const before = state.servers.find((s) => s.fqdn === agent.server)
    const after = target.servers.find((s) => s.fqdn === agent.server)
    return before && after && before.pool === after.pool && before.backend === after.backend
  })
  return eventsBetween(state, { ...target, agents: kept })
}

export function decide(state: TopologyDocument, command: TopologyCommand): TopologyEvent[] {
  switch (command.type) {
    case 'addSite':
      return decideAddSite(state, command.name, command.ntlmOnly === true)
    case 'setSite':
      return decideSetSite(state, command.name, command.ntlmOnly)
    case 'removeSite':
      return decideRemoveSite(state, command.name, command.force === true)
    case 'addPool':
      return decideAddPool(state, command.pool)
    case 'setPool':
      return decideSetPool(state, command.patch)
    case 'removePool':
      return decideRemovePool(state, command.fqdn, command.force === true)
    case 'addServer':
      return decideAddServer(state, command.server)
    case 'removeServer':
      return decideRemoveServer(state, command.fqdn)
    case 'newAssignment':
      return decideNewAssignment(state, command.site, command.account)
    case 'setAssignment':
      return decideSetAssignment(state, command.site, command.account)
    case 'removeAssignment':
      return decideRemoveAssignment(state, command.site)
    case 'enrolAgent':
      return decideEnrolAgent(state, command)
    case 'applyDocument':
      return decideApply(state, command.document)
  }
}

/** decide, then evolve: the state after the command and the events that got it there. */
export function execute(
  state: TopologyDocument,
  command: TopologyCommand,
): { state: TopologyDocument; events: TopologyEvent[] } {
  const events = decide(state, command)
  return { state: events.reduce(evolve, state), events }
}
