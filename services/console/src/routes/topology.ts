import {
  type ChangeResult,
  codec,
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
const NameParam = obj({ name: Type.String({ minLength: 1, maxLength: 64 }) })
const FqdnParam = obj({ fqdn: Type.String({ minLength: 1, maxLength: 253 }) })
const SiteParam = obj({ site: Type.String({ minLength: 1, maxLength: 64 }) })
const { fqdn: _fqdn, ...poolChangeFields } = TopologyRequests[Op.PoolSet].properties
const PoolChanges = obj(poolChangeFields)
const { site: _site, ...assignmentSetFields } = TopologyRequests[Op.AssignmentSet].properties
const AssignmentChange = obj(assignmentSetFields)

const tags = ['topology']
const enableBody = codec(TopologyRequests[Op.TopologyEnable], 'body')

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

export const topologyRoutes: RouteModule = async (app: ConsoleApp, ctx: RouteContext) => {
  const call = <T = ChangeResult>(req: FastifyRequest, op: string, body: unknown) =>
    ctx.call<T>(req, ServiceName.Topology, op, body)
  const change = (req: FastifyRequest, action: string, target: string, body: Record<string, unknown>) => {
    const dryRun = dryRunOf(req)
    return ctx.change(req, { action, target, dryRun }, () => call(req, action, { ...body, dryRun }))
  }

  // sites
  app.get(
    '/sites',
    { schema: { tags, summary: 'List sites', querystring: obj({ source: SourceQuery }) } },
    async (req) => await call(req, Op.SiteList, req.query),
  )
  app.post(
    '/sites',
    {
      config: { action: Op.SiteAdd },
      schema: { tags, summary: 'Add a site', body: TopologyRequests[Op.SiteAdd], querystring: DryRunQuery },
    },
    async (req, reply) => created(reply, await change(req, Op.SiteAdd, `site:${req.body.name}`, req.body)),
  )
  app.delete(
    '/sites/:name',
    {
      config: { action: Op.SiteRemove },
      schema: {
        tags,
        summary: 'Remove a site (force: with its pools, servers and assignment)',
        params: NameParam,
        querystring: ForceQuery,
      },
    },
    async (req) =>
      await change(req, Op.SiteRemove, `site:${req.params.name}`, {
        name: req.params.name,
        ...(req.query.force !== undefined ? { force: req.query.force } : {}),
      }),
  )

  // pools
  app.get(
    '/pools',
    {
      schema: {
        tags,
        summary: 'List pools',
        querystring: obj({
          site: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          source: SourceQuery,
        }),
      },
    },
    async (req) => await call(req, Op.PoolList, req.query),
  )
  app.post(
    '/pools',
    {
      config: { action: Op.PoolAdd },
      schema: {
        tags,
        summary: 'Add a pool to a site',
        body: TopologyRequests[Op.PoolAdd],
        querystring: DryRunQuery,
      },
    },
    async (req, reply) => created(reply, await change(req, Op.PoolAdd, `pool:${req.body.fqdn}`, req.body)),
  )
  app.patch(
    '/pools/:fqdn',
    {
      config: { action: Op.PoolSet },
      schema: {
        tags,
        summary: 'Change a pool',
        params: FqdnParam,
        body: PoolChanges,
        querystring: DryRunQuery,
      },
    },
    async (req) =>
      await change(req, Op.PoolSet, `pool:${req.params.fqdn}`, { ...req.body, fqdn: req.params.fqdn }),
  )
  app.delete(
    '/pools/:fqdn',
    {
      config: { action: Op.PoolRemove },
      schema: {
        tags,
        summary: 'Remove a pool (force: with its servers)',
        params: FqdnParam,
        querystring: ForceQuery,
      },
    },
    async (req) =>
      await change(req, Op.PoolRemove, `pool:${req.params.fqdn}`, {
        fqdn: req.params.fqdn,
        ...(req.query.force !== undefined ? { force: req.query.force } : {}),
      }),
  )

  // servers (Get-CsService -WebServer)
  app.get(
    '/servers',
    {
      schema: {
        tags,
        summary: 'List web servers',
        querystring: obj({
          site: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          pool: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
          source: SourceQuery,
        }),
      },
    },
    async (req) => await call(req, Op.ServerList, req.query),
  )
  app.post(
    '/servers',
    {
      config: { action: Op.ServerAdd },
      schema: {
        tags,
        summary: 'Add a server to a pool',
        body: TopologyRequests[Op.ServerAdd],
        querystring: DryRunQuery,
      },
    },
    async (req, reply) =>
      created(reply, await change(req, Op.ServerAdd, `server:${req.body.fqdn}`, req.body)),
  )
  app.delete(
    '/servers/:fqdn',
    {
      config: { action: Op.ServerRemove },
      schema: { tags, summary: 'Remove a server', params: FqdnParam, querystring: DryRunQuery },
    },
    async (req) => await change(req, Op.ServerRemove, `server:${req.params.fqdn}`, { fqdn: req.params.fqdn }),
  )

  // Kerberos account assignments (New-/Set-/Remove-/Get-CsKerberosAccountAssignment)
  app.get(
    '/assignments',
    {
      schema: {
        tags,
        summary: 'Kerberos account assignments',
        querystring: obj({
          site: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          source: SourceQuery,
        }),
      },
    },
    async (req) => await call(req, Op.AssignmentGet, req.query),
  )
  app.post(
    '/assignments',
    {
      config: { action: Op.AssignmentNew },
      schema: {
        tags,
        summary: 'Assign a Kerberos account to a site (refused when the site has one)',
        body: TopologyRequests[Op.AssignmentNew],
        querystring: DryRunQuery,
      },
    },
    async (req, reply) =>
      created(reply, await change(req, Op.AssignmentNew, `assignment:${req.body.site}`, req.body)),
  )
  app.put(
    '/assignments/:site',
    {
      config: { action: Op.AssignmentSet },
      schema: {
        tags,
        summary: "Replace a site's Kerberos account",
        params: SiteParam,
        body: AssignmentChange,
        querystring: DryRunQuery,
      },
    },
    async (req) =>
      await change(req, Op.AssignmentSet, `assignment:${req.params.site}`, {
        ...req.body,
        site: req.params.site,
      }),
  )
  app.delete(
    '/assignments/:site',
    {
      config: { action: Op.AssignmentRemove },
      schema: {
        tags,
        summary: "Remove a site's Kerberos account assignment",
        params: SiteParam,
        querystring: DryRunQuery,
      },
    },
    async (req) =>
      await change(req, Op.AssignmentRemove, `assignment:${req.params.site}`, { site: req.params.site }),
  )

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
    async (req) => {
      // The body is optional here ({dryRun} at most), so it is checked by hand.
      if (req.body !== undefined && req.body !== null) enableBody.decode(req.body)
      return await change(req, Op.TopologyEnable, 'topology:enabled', {})
    },
  )
}
