import {
  type ChangeResult,
  ServiceName,
  TopologyOperation as Op,
  TopologyRequests,
} from '@krbfleet/contracts'
import type { FastifyReply, FastifyRequest } from 'fastify'
import Type, { type TSchema } from 'typebox'
import type { ConsoleApp, RouteContext, RouteModule } from '../context.ts'

/**
 * Topology routes: sites, pools, servers, assignments and the topology itself (show, plan, apply,
 * enable). Each change is a topology service operation; `dryRun` (query or body) decides without
 * writing. Reads are for viewers, changes for admins (plan changes nothing: viewers may plan).
 */

const obj = <P extends Record<string, TSchema>>(p: P) => Type.Object(p, { additionalProperties: false })
const DryRunQuery = obj({ dryRun: Type.Optional(Type.Boolean()) })
const ForceQuery = obj({ dryRun: Type.Optional(Type.Boolean()), force: Type.Optional(Type.Boolean()) })
const SourceQuery = Type.Optional(
  Type.String({ maxLength: 16, description: 'draft (default), enabled, or a revision number' }),
)
const siteName = Type.String({ minLength: 1, maxLength: 64 })
const fqdn = Type.String({ minLength: 1, maxLength: 253 })
const { fqdn: _fqdn, ...poolChangeFields } = TopologyRequests[Op.PoolSet].properties
const PoolChanges = obj(poolChangeFields)
const { site: _site, ...assignmentSetFields } = TopologyRequests[Op.AssignmentSet].properties
const AssignmentChange = obj(assignmentSetFields)
const { name: _name, ...siteChangeFields } = TopologyRequests[Op.SiteSet].properties
const SiteChanges = obj(siteChangeFields)

const tags = ['topology']

/** Query flag or body flag: either asks for a dry run. */
function dryRunOf(req: FastifyRequest): boolean {
  const query = req.query as { dryRun?: boolean } | undefined
  const body = req.body as { dryRun?: boolean } | undefined
  return query?.dryRun === true || body?.dryRun === true
}

function created(reply: FastifyReply, result: ChangeResult): ChangeResult {
  if (!result.dryRun) reply.status(201)
  return result
}

/**
 * One collection of the topology (sites, pools, servers, assignments): the same four routes each,
 * `GET /path` (list, filtered), `POST /path` (add, 201), `PATCH|PUT /path/:key` (change, where the
 * operation exists) and `DELETE /path/:key` (remove, `force` where the operation takes it). The audit
 * target is `<kind>:<key>`; the key is the path parameter and the request field of the same name.
 */
interface Collection {
  path: string
  kind: string
  key: 'name' | 'fqdn' | 'site'
  keySchema: TSchema
  list: { op: string; summary: string; filters: Record<string, TSchema> }
  add: { op: keyof typeof TopologyRequests; summary: string }
  change?: { op: string; method: 'PATCH' | 'PUT'; summary: string; body: TSchema }
  remove: { op: string; summary: string; force: boolean }
}

const collections: Collection[] = [
  {
    path: '/sites',
    kind: 'site',
    key: 'name',
    keySchema: siteName,
    list: { op: Op.SiteList, summary: 'List sites', filters: {} },
    add: { op: Op.SiteAdd, summary: 'Add a site' },
    change: {
      op: Op.SiteSet,
      method: 'PATCH',
      summary: 'Mark a site NTLM only, or take the mark away',
      body: SiteChanges,
    },
    remove: {
      op: Op.SiteRemove,
      summary: 'Remove a site (force: with its pools, servers and assignment)',
      force: true,
    },
  },
  {
    path: '/pools',
    kind: 'pool',
    key: 'fqdn',
    keySchema: fqdn,
    list: { op: Op.PoolList, summary: 'List pools', filters: { site: Type.Optional(siteName) } },
    add: { op: Op.PoolAdd, summary: 'Add a pool to a site' },
    change: { op: Op.PoolSet, method: 'PATCH', summary: 'Change a pool', body: PoolChanges },
    remove: { op: Op.PoolRemove, summary: 'Remove a pool (force: with its servers)', force: true },
  },
  // servers (Get-CsService -WebServer)
  {
    path: '/servers',
    kind: 'server',
    key: 'fqdn',
    keySchema: fqdn,
    list: {
      op: Op.ServerList,
      summary: 'List web servers',
      filters: { site: Type.Optional(siteName), pool: Type.Optional(fqdn) },
    },
    add: { op: Op.ServerAdd, summary: 'Add a server to a pool' },
    remove: { op: Op.ServerRemove, summary: 'Remove a server', force: false },
  },
  // Kerberos account assignments (New-/Set-/Remove-/Get-CsKerberosAccountAssignment)
  {
    path: '/assignments',
    kind: 'assignment',
    key: 'site',
    keySchema: siteName,
    list: {
      op: Op.AssignmentGet,
      summary: 'Kerberos account assignments',
      filters: { site: Type.Optional(siteName) },
    },
    add: {
      op: Op.AssignmentNew,
      summary: 'Assign a Kerberos account to a site (refused when the site has one)',
    },
    change: {
      op: Op.AssignmentSet,
      method: 'PUT',
      summary: "Replace a site's Kerberos account",
      body: AssignmentChange,
    },
    remove: { op: Op.AssignmentRemove, summary: "Remove a site's Kerberos account assignment", force: false },
  },
]

export const topologyRoutes: RouteModule = async (app: ConsoleApp, ctx: RouteContext) => {
  const call = <T = ChangeResult>(req: FastifyRequest, op: string, body: unknown) =>
    ctx.call<T>(req, ServiceName.Topology, op, body)
  const change = (req: FastifyRequest, action: string, target: string, body: Record<string, unknown>) => {
    const dryRun = dryRunOf(req)
    return ctx.change(req, { action, target, dryRun }, () => call(req, action, { ...body, dryRun }))
  }

  for (const c of collections) {
    const item = `${c.path}/:${c.key}`
    const params = obj({ [c.key]: c.keySchema })
    // The schemas below have validated params, query and body before a handler runs.
    const keyOf = (req: FastifyRequest) => (req.params as Record<string, string>)[c.key] as string
    app.get(
      c.path,
      {
        schema: {
          tags,
          summary: c.list.summary,
          querystring: obj({ ...c.list.filters, source: SourceQuery }),
        },
      },
      async (req) => await call(req, c.list.op, req.query),
    )
    app.post(
      c.path,
      {
        config: { action: c.add.op },
        schema: { tags, summary: c.add.summary, body: TopologyRequests[c.add.op], querystring: DryRunQuery },
      },
      async (req, reply) => {
        const body = req.body as Record<string, unknown>
        return created(reply, await change(req, c.add.op, `${c.kind}:${String(body[c.key])}`, body))
      },
    )
    const changeRoute = c.change
    if (changeRoute) {
      app.route({
        method: changeRoute.method,
        url: item,
        config: { action: changeRoute.op },
        schema: {
          tags,
          summary: changeRoute.summary,
          params,
          body: changeRoute.body,
          querystring: DryRunQuery,
        },
        handler: async (req) =>
          await change(req, changeRoute.op, `${c.kind}:${keyOf(req)}`, {
            ...(req.body as Record<string, unknown>),
            [c.key]: keyOf(req),
          }),
      })
    }
    app.delete(
      item,
      {
        config: { action: c.remove.op },
        schema: {
          tags,
          summary: c.remove.summary,
          params,
          querystring: c.remove.force ? ForceQuery : DryRunQuery,
        },
      },
      async (req) => {
        const force = (req.query as { force?: boolean }).force
        return await change(req, c.remove.op, `${c.kind}:${keyOf(req)}`, {
          [c.key]: keyOf(req),
          ...(force !== undefined ? { force } : {}),
        })
      },
    )
  }

  // the topology as a whole
  app.get(
    '/topology',
    {
      schema: {
        tags,
        summary: 'The draft, the enabled revision, or revision N',
        querystring: obj({ source: SourceQuery }),
      },
    },
    async (req) => await call(req, Op.TopologyGet, req.query),
  )
  app.post(
    '/topology/plan',
    {
      config: { role: 'viewer' },
      schema: {
        tags,
        summary: 'What applying a document would change (writes nothing)',
        body: TopologyRequests[Op.TopologyPlan],
      },
    },
    async (req) => await call(req, Op.TopologyPlan, req.body),
  )
  app.post(
    '/topology/apply',
    {
      config: { action: Op.TopologyApply },
      schema: {
        tags,
        summary: 'Make the draft equal to a document',
        body: TopologyRequests[Op.TopologyApply],
        querystring: DryRunQuery,
      },
    },
    async (req) => await change(req, Op.TopologyApply, 'topology:draft', req.body),
  )
  app.post(
    '/topology/enable',
    {
      config: { action: Op.TopologyEnable },
      schema: {
        tags,
        summary: 'Publish the draft as the next enabled revision (Enable-CsTopology)',
        querystring: DryRunQuery,
      },
    },
    // No body schema: the app's rule for such routes allows no body or {dryRun: boolean} only.
    async (req) => await change(req, Op.TopologyEnable, 'topology:enabled', {}),
  )
}
