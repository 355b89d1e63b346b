import type {
  AccountView,
  AgentRow,
  EventEnvelope,
  RotationView,
  SpnDuplicates,
  TopologyDocument,
} from '@krbfleet/contracts'
import {
  type AccountCard,
  accountCards,
  type EventLine,
  eventLine,
  rotationProgress,
  type SiteCard,
  type Snapshot,
  siteTree,
} from './model.ts'
import { SseParser } from './sse.ts'

/**
 * The dashboard in the browser: asks for a console token (kept in this tab's sessionStorage only,
 * sent as a bearer token like the CLI's), reads the fleet from the API, and follows
 * /v1/events/stream to redraw what an event changes, without a reload. Every text is set as text,
 * never parsed as HTML. What the page offers follows the token's role; the API checks it again.
 */

interface Session {
  name: string
  role: string
  mayRotate: boolean
}

const tokenKey = 'krbfleet.token'
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const maxEvents = 200

const state = {
  token: sessionStorage.getItem(tokenKey) ?? '',
  session: undefined as Session | undefined,
  snapshot: undefined as Snapshot | undefined,
  /** The latest rotation of each account, by rotation id. */
  rotations: new Map<string, RotationView>(),
  events: [] as EventLine[],
  lastEventId: '',
  stream: undefined as AbortController | undefined,
}

class ApiError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

async function api<T>(method: string, path: string): Promise<T> {
  const response = await fetch(path, { method, headers: { authorization: `Bearer ${state.token}` } })
  const body = (await response.json().catch(() => ({}))) as { message?: string }
  if (!response.ok)
    throw new ApiError(response.status, body.message ?? `${method} ${path}: ${response.status}`)
  return body as T
}

/** Builds an element: `h('td', { class: 'ok' }, 'text', child)`. Strings become text nodes. */
function h(tag: string, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElement {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value)
  element.append(...children)
  return element
}

const accountPath = (account: string) => encodeURIComponent(account.replace('\\', '.'))

// --- signing in -------------------------------------------------------------------------------

async function signIn(token: string): Promise<void> {
  state.token = token
  try {
    state.session = await api<Session>('GET', '/v1/session')
  } catch (error) {
    state.token = ''
    sessionStorage.removeItem(tokenKey)
    $('login-error').textContent =
      error instanceof ApiError && error.status === 401 ? 'That token is not valid.' : String(error)
    return
  }
  sessionStorage.setItem(tokenKey, token)
  $('login').hidden = true
  $('board').hidden = false
  $('who').textContent = `${state.session.name} (${state.session.role})`
  await refresh()
  await loadRecentEvents()
  follow()
}

function signOut(): void {
  state.stream?.abort()
  sessionStorage.removeItem(tokenKey)
  location.reload()
}

// --- reading the fleet --------------------------------------------------------------------------

let refreshing: Promise<void> | undefined
let again = false

/** Reads the fleet again (one read at a time; a request during a read runs once after it). */
async function refresh(): Promise<void> {
  if (refreshing) {
    again = true
    return refreshing
  }
  refreshing = (async () => {
    try {
      const [{ topology }, { agents }, { accounts }, { duplicates }] = await Promise.all([
        api<{ topology: TopologyDocument }>('GET', '/v1/topology'),
        api<{ agents: AgentRow[] }>('GET', '/v1/agents'),
        api<{ accounts: AccountView[] }>('GET', '/v1/accounts'),
        api<SpnDuplicates>('GET', '/v1/spn/duplicates'),
      ])
      state.snapshot = { topology, agents, accounts, duplicates, now: Date.now() }
      await Promise.all(
        accounts
          .filter((a) => a.managed)
          .map((a) => loadRotation(`/v1/accounts/${accountPath(a.account)}/rotation`)),
      )
      $('problem').hidden = true
      draw()
    } catch (error) {
      showProblem(`Could not read the fleet: ${error instanceof Error ? error.message : String(error)}`)
    }
  })()
  await refreshing
  refreshing = undefined
  if (again) {
    again = false
    await refresh()
  }
}

async function loadRotation(path: string): Promise<void> {
  try {
    const view = await api<RotationView>('GET', path)
    for (const [id, known] of state.rotations)
      if (known.account === view.account && id !== view.rotationId) state.rotations.delete(id)
    state.rotations.set(view.rotationId, view)
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error
  }
}

async function loadRecentEvents(): Promise<void> {
  const { events } = await api<{ events: Array<EventEnvelope & { seq: number }> }>(
    'GET',
    '/v1/events?since=1h&limit=1000',
  )
  const recent = events.slice(-maxEvents)
  state.events = recent.map(eventLine).reverse()
  const last = recent.at(-1)
  if (last) state.lastEventId = String(last.seq)
  drawEvents()
}

// --- following the event stream -------------------------------------------------------------------

let redraw: ReturnType<typeof setTimeout> | undefined
/** Many events come at once (a rotation of a big pool): one read of the fleet for all of them. */
function refreshSoon(): void {
  clearTimeout(redraw)
  redraw = setTimeout(() => void refresh(), 300)
}

function follow(): void {
  const controller = new AbortController()
  state.stream = controller
  const parser = new SseParser()
  const headers: Record<string, string> = { authorization: `Bearer ${state.token}` }
  if (state.lastEventId) headers['last-event-id'] = state.lastEventId
  setLive('connecting')
  fetch('/v1/events/stream', { headers, signal: controller.signal })
    .then(async (response) => {
      if (!response.ok || !response.body)
        throw new ApiError(response.status, `event stream: ${response.status}`)
      setLive('live')
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        for (const message of parser.push(value)) onEvent(message.id, JSON.parse(message.data))
      }
    })
    .catch((error: unknown) => {
      if (controller.signal.aborted) return
      if (error instanceof ApiError && error.status === 401) return signOut()
    })
    .finally(() => {
      if (controller.signal.aborted) return
      setLive('reconnecting')
      setTimeout(follow, parser.retryMs ?? 2000)
    })
}

function onEvent(id: string, event: EventEnvelope & { seq: number }): void {
  state.lastEventId = id
  const line = eventLine(event)
  state.events.unshift(line)
  state.events.length = Math.min(state.events.length, maxEvents)
  drawEvents()
  const rotationId = line.rotationId
  if (rotationId && (line.name === 'PasswordRotationStarted' || state.rotations.has(rotationId))) {
    void loadRotation(`/v1/rotations/${encodeURIComponent(rotationId)}`).then(drawRotations, showError)
  }
  refreshSoon()
}

function setLive(status: 'connecting' | 'live' | 'reconnecting'): void {
  const live = $('live')
  live.textContent = status
  live.className = `live ${status}`
}

function showProblem(text: string): void {
  const problem = $('problem')
  problem.textContent = text
  problem.hidden = false
}
const showError = (error: unknown) => showProblem(error instanceof Error ? error.message : String(error))

// --- acting -------------------------------------------------------------------------------------

async function rotate(account: string): Promise<void> {
  if (!confirm(`Rotate the password of ${account}? Every server of its sites gets the new key first.`)) return
  try {
    const view = await api<RotationView>('POST', `/v1/accounts/${accountPath(account)}/password`)
    state.rotations.set(view.rotationId, view)
    drawRotations()
  } catch (error) {
    showError(error)
  }
}

// --- drawing ------------------------------------------------------------------------------------

function draw(): void {
  const snapshot = state.snapshot
  if (!snapshot) return
  const sites = siteTree(snapshot)
  $('sites').replaceChildren(
    ...(sites.length ? sites.map(siteSection) : [h('p', { class: 'empty' }, 'No sites yet.')]),
  )
  const accounts = accountCards(snapshot)
  $('accounts').replaceChildren(accountTable(accounts))
  $('conflicts').replaceChildren(
    snapshot.duplicates.length === 0
      ? h('p', { class: 'ok-text' }, 'No SPN is held by more than one object.')
      : h(
          'ul',
          {},
          ...snapshot.duplicates.map((d) =>
            h(
              'li',
              { class: 'bad-text' },
              `${d.spn}: `,
              d.holders.map((x) => x.samAccountName ?? x.dn).join(', '),
            ),
          ),
        ),
  )
  drawRotations()
  $('updated').textContent = `updated ${new Date(snapshot.now).toLocaleTimeString()}`
}

function siteSection(site: SiteCard): HTMLElement {
  const summary = Object.entries(site.counts)
    .map(([stateName, n]) => `${n} ${stateName}`)
    .join(', ')
  return h(
    'section',
    { class: 'site', 'data-site': site.name },
    h(
      'h3',
      {},
      site.name,
      h(
        'span',
        { class: site.account ? 'account' : 'account none' },
        site.account ?? (site.ntlmOnly ? 'NTLM only, on purpose' : 'no account: NTLM only'),
      ),
      h('span', { class: 'summary' }, summary),
    ),
    ...site.pools.map((pool) =>
      h(
        'div',
        { class: 'pool' },
        h('h4', {}, pool.fqdn),
        pool.servers.length === 0
          ? h('p', { class: 'empty' }, 'No servers.')
          : h(
              'table',
              {},
              h(
                'tr',
                {},
                ...['server', 'backend', 'kvno held', 'AD kvno', 'state', 'last heartbeat'].map((t) =>
                  h('th', {}, t),
                ),
              ),
              ...pool.servers.map((s) =>
                h(
                  'tr',
                  { 'data-server': s.fqdn, 'data-state': s.state },
                  h('td', {}, s.fqdn),
                  h('td', {}, s.backend),
                  h('td', { class: 'kvno' }, s.held.join(', ') || '-'),
                  h('td', {}, s.adKvno === null ? '-' : String(s.adKvno)),
                  h('td', { class: `state ${s.state.replace(' ', '-')}`, title: s.detail ?? '' }, s.state),
                  h('td', {}, s.lastSeen),
                ),
              ),
            ),
      ),
    ),
  )
}

function accountTable(accounts: AccountCard[]): HTMLElement {
  if (accounts.length === 0) return h('p', { class: 'empty' }, 'No Kerberos accounts yet.')
  const mayRotate = state.session?.mayRotate === true
  return h(
    'table',
    {},
    h(
      'tr',
      {},
      ...['account', 'kvno', 'password age', 'encryption', 'sites', 'SPNs', 'next rotation', ''].map((t) =>
        h('th', {}, t),
      ),
    ),
    ...accounts.map((a) => {
      const action =
        mayRotate && a.managed
          ? h('button', { type: 'button', class: 'rotate', 'data-account': a.account }, 'Rotate password')
          : h('span', {})
      action.addEventListener('click', () => void rotate(a.account))
      return h(
        'tr',
        { 'data-account': a.account },
        h('td', {}, a.account),
        h('td', { class: 'kvno' }, a.kvno === null ? '-' : String(a.kvno)),
        h('td', {}, a.passwordAgeDays === null ? '-' : `${a.passwordAgeDays} d`),
        h('td', { class: a.aesOnly ? 'ok-text' : 'bad-text' }, a.encryption),
        h('td', {}, a.sites.join(', ') || '-'),
        h('td', { class: 'spns' }, ...a.spns.flatMap((spn) => [spn, h('br')])),
        h('td', {}, a.nextRotation ? new Date(a.nextRotation).toLocaleString() : '-'),
        h('td', {}, action),
      )
    }),
  )
}

function drawRotations(): void {
  const views = [...state.rotations.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt))
  $('rotations').replaceChildren(
    ...(views.length
      ? views.map((view) => {
          const progress = rotationProgress(view)
          const bar = h('div', { class: `bar ${view.state}` })
          bar.style.width = `${progress.percent}%`
          return h(
            'div',
            { class: 'rotation', 'data-rotation': view.rotationId, 'data-state': view.state },
            h(
              'div',
              { class: 'rotation-head' },
              h('strong', {}, view.account),
              ` kvno ${view.previousKvno ?? '-'} → ${view.kvno ?? '-'} · started ${new Date(view.startedAt).toLocaleTimeString()} by ${view.actor}`,
            ),
            h(
              'div',
              { class: 'progress', role: 'progressbar', 'aria-valuenow': String(progress.percent) },
              bar,
            ),
            h('div', { class: 'progress-label' }, progress.label, view.reason ? ` · ${view.reason}` : ''),
            h(
              'div',
              { class: 'targets' },
              ...view.targets.map((t) =>
                h(
                  'span',
                  {
                    class: `target ${t.applied ? 'applied' : t.failure ? 'failed' : t.staged ? 'staged' : t.online ? 'waiting' : 'offline'}`,
                    title: t.failure ?? '',
                  },
                  t.server,
                ),
              ),
            ),
          )
        })
      : [h('p', { class: 'empty' }, 'No rotation yet.')]),
  )
}

function drawEvents(): void {
  if (state.events.length === 0) {
    $('events').replaceChildren(
      h('li', { class: 'empty' }, 'No event in the last hour; new ones appear here as they happen.'),
    )
    return
  }
  $('events').replaceChildren(
    ...state.events.map((e) =>
      h(
        'li',
        { 'data-seq': String(e.seq) },
        h('time', {}, e.time),
        h('span', { class: 'event-name' }, e.name),
        e.text,
      ),
    ),
  )
}

// --- start --------------------------------------------------------------------------------------

$('login').addEventListener('submit', (event) => {
  event.preventDefault()
  void signIn(($('token') as HTMLInputElement).value.trim())
})
$('sign-out').addEventListener('click', signOut)
// Heartbeats are not in the stream: ages and offline states come from a read every 15 s.
setInterval(() => {
  if (state.session) void refresh()
}, 15_000)
if (state.token) void signIn(state.token)
