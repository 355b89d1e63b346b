import type { TopologyDocument } from '@krbfleet/contracts'
import { type CommandModule, type VerbContext, type VerbSpec, UsageError } from '../framework.ts'
import { type ChangeLike, changeSummary, diffLines, fields, table } from '../output.ts'
import { enableVerb } from './enable.ts'

/** Topology verbs: site, pool, server, assignment, topology (the CMS of Lync, Get-CsService -WebServer ...). */

const enc = encodeURIComponent
const dry = (ctx: VerbContext) => (ctx.dryRun ? { dryRun: true } : undefined)

async function change(ctx: VerbContext, send: () => Promise<ChangeLike>): Promise<0> {
  const result = await send()
  ctx.print(result, () => changeSummary(result))
  return 0
}

const source = {
  source: { type: 'string', description: 'draft (default), enabled, or a revision number' },
} as const

/** A site's account as a table shows it: the account, or the NTLM-only mark. */
const siteAccount = (site: { account?: unknown; ntlmOnly?: unknown }) =>
  site.account ?? (site.ntlmOnly === true ? '(NTLM only)' : undefined)

/** Lync identities are written `site:Redmond`; both forms are accepted. */
const siteName = (value: string | undefined) => (value ?? '').replace(/^site:/i, '')

/**
 * `<area> list` (and `assignment get`): GET the collection with the filters given, print its rows
 * as a table (or the answer as JSON). The site filter is `--site` or the optional SITE argument.
 */
function listVerb(spec: {
  summary: string
  path: string
  /** The array of the answer that holds the rows (`pools`). */
  rows: string
  filters?: { site?: 'option' | 'argument'; pool?: true }
  columns: Array<[string, string]>
  /** A row as shown (the JSON answer stays as the console gave it). */
  shape?: (row: Record<string, unknown>) => Record<string, unknown>
}): VerbSpec {
  const { site, pool } = spec.filters ?? {}
  const shape = spec.shape ?? ((row: Record<string, unknown>) => row)
  return {
    summary: spec.summary,
    ...(site === 'argument' ? { args: ['SITE?'] } : {}),
    options: {
      ...(site === 'option' ? { site: { type: 'string' } } : {}),
      ...(pool ? { pool: { type: 'string' } } : {}),
      ...source,
    },
    async run(ctx) {
      const siteFilter = site === 'argument' ? ctx.args.SITE : (ctx.options.site as string | undefined)
      const result = await ctx.client().get<Record<string, Record<string, unknown>[]>>(spec.path, {
        ...(site ? { site: siteFilter === undefined ? undefined : siteName(siteFilter) } : {}),
        ...(pool ? { pool: ctx.options.pool as string | undefined } : {}),
        source: ctx.options.source as string | undefined,
      })
      ctx.print(result, () => table((result[spec.rows] ?? []).map(shape), spec.columns))
      return 0
    },
  }
}

/** `<area> remove KEY`: DELETE `path/KEY`, with `--force` where the operation takes it. */
function removeVerb(spec: {
  summary: string
  path: string
  arg: 'NAME' | 'FQDN' | 'SITE'
  /** The key from the argument (a site name also as `site:NAME`). */
  key?: (value: string | undefined) => string
  force?: boolean
}): VerbSpec {
  const key = spec.key ?? ((value: string | undefined) => value as string)
  return {
    summary: spec.summary,
    args: [spec.arg],
    change: true,
    ...(spec.force ? { options: { force: { type: 'boolean' } } } : {}),
    run: (ctx) =>
      change(ctx, () =>
        ctx
          .client()
          .delete(
            `${spec.path}/${enc(key(ctx.args[spec.arg]))}`,
            spec.force ? { ...dry(ctx), ...(ctx.options.force ? { force: true } : {}) } : dry(ctx),
          ),
      ),
  }
}

export const siteCommands: CommandModule = {
  area: 'site',
  summary: 'sites (the top of the topology)',
  verbs: {
    add: {
      summary: 'add a site (--ntlm-only: served by no Kerberos account, on purpose)',
      args: ['NAME'],
      change: true,
      options: { 'ntlm-only': { type: 'boolean' } },
      run: (ctx) =>
        change(ctx, () =>
          ctx
            .client()
            .post(
              '/v1/sites',
              { name: siteName(ctx.args.NAME), ...(ctx.options['ntlm-only'] ? { ntlmOnly: true } : {}) },
              dry(ctx),
            ),
        ),
    },
    set: {
      summary: 'mark a site NTLM only on purpose (--ntlm-only), or take the mark away (--no-ntlm-only)',
      args: ['NAME'],
      change: true,
      options: { 'ntlm-only': { type: 'boolean', negatable: true } },
      run(ctx) {
        const ntlmOnly = ctx.options['ntlm-only'] as boolean | undefined
        if (ntlmOnly === undefined)
          throw new UsageError('nothing to change: give --ntlm-only or --no-ntlm-only')
        return change(ctx, () =>
          ctx.client().patch(`/v1/sites/${enc(siteName(ctx.args.NAME))}`, { ntlmOnly }, dry(ctx)),
        )
      },
    },
    remove: removeVerb({
      summary: 'remove a site; --force also removes its pools, servers and assignment',
      path: '/v1/sites',
      arg: 'NAME',
      key: siteName,
      force: true,
    }),
    list: listVerb({
      summary: 'list sites with their pools, servers and account',
      path: '/v1/sites',
      rows: 'sites',
      columns: [
        ['name', 'SITE'],
        ['pools', 'POOLS'],
        ['servers', 'SERVERS'],
        ['account', 'ACCOUNT'],
      ],
      shape: (row) => ({ ...row, account: siteAccount(row) }),
    }),
  },
}

const poolOptions = {
  'web-services': {
    type: 'boolean',
    negatable: true,
    description: 'the pool runs WebServices (default yes)',
  },
  'internal-web-fqdn': { type: 'string' },
  'external-web-fqdn': { type: 'string' },
  'load-balancer': { type: 'string', multiple: true },
  alias: { type: 'string', multiple: true },
  'short-name-spns': { type: 'boolean', negatable: true, description: 'also HTTP/<short name> SPNs' },
} as const

function poolFields(ctx: VerbContext): Record<string, unknown> {
  const o = ctx.options
  const body: Record<string, unknown> = {}
  if (o['web-services'] !== undefined) body.webServices = o['web-services']
  if (o['internal-web-fqdn'] !== undefined) body.internalWebFqdn = o['internal-web-fqdn']
  if (o['external-web-fqdn'] !== undefined) body.externalWebFqdn = o['external-web-fqdn']
  if (o['load-balancer'] !== undefined) body.loadBalancerNames = o['load-balancer']
  if (o.alias !== undefined) body.aliases = o.alias
  if (o['short-name-spns'] !== undefined) body.shortNameSpns = o['short-name-spns']
  return body
}

const clearable: Record<string, [string, unknown]> = {
  'internal-web-fqdn': ['internalWebFqdn', null],
  'external-web-fqdn': ['externalWebFqdn', null],
  'load-balancer': ['loadBalancerNames', []],
  alias: ['aliases', []],
}

export const poolCommands: CommandModule = {
  area: 'pool',
  summary: 'pools: the load-balanced names of a site',
  verbs: {
    add: {
      summary: 'add a pool to a site',
      args: ['FQDN'],
      change: true,
      options: { site: { type: 'string' }, ...poolOptions },
      run(ctx) {
        const site = ctx.options.site as string | undefined
        if (!site) throw new UsageError('missing --site')
        return change(ctx, () =>
          ctx
            .client()
            .post('/v1/pools', { fqdn: ctx.args.FQDN, site: siteName(site), ...poolFields(ctx) }, dry(ctx)),
        )
      },
    },
    set: {
      summary: 'change a pool (a list option replaces the whole list; --clear NAME empties one)',
      args: ['FQDN'],
      change: true,
      options: { ...poolOptions, clear: { type: 'string', multiple: true } },
      run(ctx) {
        const body = poolFields(ctx)
        for (const name of (ctx.options.clear as string[] | undefined) ?? []) {
          const target = clearable[name]
          if (!target) throw new UsageError(`--clear takes one of ${Object.keys(clearable).join(', ')}`)
          body[target[0]] = target[1]
        }
        if (Object.keys(body).length === 0)
          throw new UsageError('nothing to change: give at least one option')
        return change(ctx, () => ctx.client().patch(`/v1/pools/${enc(ctx.args.FQDN!)}`, body, dry(ctx)))
      },
    },
    remove: removeVerb({
      summary: 'remove a pool; --force also removes its servers',
      path: '/v1/pools',
      arg: 'FQDN',
      force: true,
    }),
    list: listVerb({
      summary: 'list pools',
      path: '/v1/pools',
      rows: 'pools',
      filters: { site: 'option' },
      columns: [
        ['fqdn', 'POOL'],
        ['site', 'SITE'],
        ['webServices', 'WEB'],
        ['internalWebFqdn', 'INTERNAL'],
        ['externalWebFqdn', 'EXTERNAL'],
        ['loadBalancerNames', 'LOAD BALANCERS'],
        ['aliases', 'ALIASES'],
        ['shortNameSpns', 'SHORT'],
      ],
    }),
  },
}

export const serverCommands: CommandModule = {
  area: 'server',
  summary: 'web servers of the pools (Get-CsService -WebServer)',
  verbs: {
    add: {
      summary: 'add a server to a pool',
      args: ['FQDN'],
      change: true,
      options: {
        pool: { type: 'string' },
        backend: { type: 'string', description: 'iis (default) or keytab' },
      },
      run(ctx) {
        const pool = ctx.options.pool as string | undefined
        if (!pool) throw new UsageError('missing --pool')
        const backend = ctx.options.backend as string | undefined
        if (backend !== undefined && backend !== 'iis' && backend !== 'keytab') {
          throw new UsageError('--backend must be iis or keytab')
        }
        return change(ctx, () =>
          ctx
            .client()
            .post('/v1/servers', { fqdn: ctx.args.FQDN, pool, ...(backend ? { backend } : {}) }, dry(ctx)),
        )
      },
    },
    remove: removeVerb({ summary: 'remove a server', path: '/v1/servers', arg: 'FQDN' }),
    list: listVerb({
      summary: 'list web servers with their pool, site, backend and enrolment',
      path: '/v1/servers',
      rows: 'servers',
      filters: { site: 'option', pool: true },
      columns: [
        ['fqdn', 'SERVER'],
        ['pool', 'POOL'],
        ['site', 'SITE'],
        ['backend', 'BACKEND'],
        ['enrolled', 'ENROLLED'],
      ],
    }),
  },
}

export const assignmentCommands: CommandModule = {
  area: 'assignment',
  summary: 'Kerberos account per site (New-/Set-/Remove-/Get-CsKerberosAccountAssignment)',
  verbs: {
    new: {
      summary: 'assign DOMAIN\\NAME to a site (refused when the site already has an account)',
      args: ['SITE', 'ACCOUNT'],
      change: true,
      run: (ctx) =>
        change(ctx, () =>
          ctx
            .client()
            .post('/v1/assignments', { site: siteName(ctx.args.SITE), account: ctx.args.ACCOUNT }, dry(ctx)),
        ),
    },
    set: {
      summary: "replace a site's account",
      args: ['SITE', 'ACCOUNT'],
      change: true,
      run: (ctx) =>
        change(ctx, () =>
          ctx
            .client()
            .put(`/v1/assignments/${enc(siteName(ctx.args.SITE))}`, { account: ctx.args.ACCOUNT }, dry(ctx)),
        ),
    },
    remove: removeVerb({
      summary: "remove a site's assignment",
      path: '/v1/assignments',
      arg: 'SITE',
      key: siteName,
    }),
    get: listVerb({
      summary: 'show the assignments (of one site)',
      path: '/v1/assignments',
      rows: 'assignments',
      filters: { site: 'argument' },
      columns: [
        ['site', 'SITE'],
        ['account', 'ACCOUNT'],
      ],
    }),
  },
}

/** A declarative topology file: YAML (JSON is YAML too). */
async function readDocument(ctx: VerbContext): Promise<unknown> {
  const file = ctx.options.file as string | undefined
  if (!file) throw new UsageError('missing -f FILE (a topology in YAML or JSON; - for standard input)')
  let text: string
  try {
    text = await ctx.io.readFile(file)
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`)
  }
  // Loaded here, not at start: only plan and apply read a file, and every other verb starts faster.
  const { parse: parseYaml } = await import('yaml')
  try {
    return parseYaml(text)
  } catch (err) {
    throw new UsageError(`${file} is not YAML or JSON: ${(err as Error).message}`)
  }
}

const fileOption = { file: { type: 'string', short: 'f' } } as const

interface TopologyView {
  source: string
  revision: number
  enabledRevision: number
  topology: TopologyDocument
}

export const topologyCommands: CommandModule = {
  area: 'topology',
  summary: 'the whole topology: show, plan, apply a file, enable (Enable-CsTopology)',
  verbs: {
    show: {
      summary: 'print the draft (or --source enabled / N)',
      options: { ...source },
      async run(ctx) {
        const result = await ctx.client().get<TopologyView>('/v1/topology', {
          source: ctx.options.source as string | undefined,
        })
        ctx.print(result, () => {
          const t = result.topology
          return [
            fields({
              source: result.source,
              revision: result.revision,
              enabledRevision: result.enabledRevision,
            }),
            '',
            table(
              t.sites.map((s) => ({
                name: s.name,
                account: siteAccount({
                  ...s,
                  account: t.assignments.find((a) => a.site === s.name)?.account,
                }),
              })),
              [
                ['name', 'SITE'],
                ['account', 'ACCOUNT'],
              ],
            ),
            '',
            table(t.pools as unknown as Record<string, unknown>[], [
              ['fqdn', 'POOL'],
              ['site', 'SITE'],
              ['webServices', 'WEB'],
              ['loadBalancerNames', 'LOAD BALANCERS'],
              ['aliases', 'ALIASES'],
            ]),
            '',
            table(t.servers as unknown as Record<string, unknown>[], [
              ['fqdn', 'SERVER'],
              ['pool', 'POOL'],
              ['backend', 'BACKEND'],
            ]),
          ].join('\n')
        })
        return 0
      },
    },
    plan: {
      summary: 'what applying FILE would change in the draft (writes nothing)',
      options: { ...fileOption },
      async run(ctx) {
        const document = await readDocument(ctx)
        const result = await ctx.client().post<ChangeLike>('/v1/topology/plan', { document })
        ctx.print(result, () => {
          const lines = diffLines(result.diff ?? {})
          return lines.length === 0
            ? 'no changes: the draft already matches'
            : ['changes:', ...lines].join('\n')
        })
        return 0
      },
    },
    apply: {
      summary: 'make the draft equal to FILE',
      change: true,
      options: { ...fileOption },
      async run(ctx) {
        const document = await readDocument(ctx)
        return change(ctx, () => ctx.client().post('/v1/topology/apply', { document }, dry(ctx)))
      },
    },
    enable: enableVerb,
  },
}
