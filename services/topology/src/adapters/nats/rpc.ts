import { type Bus, type RpcContext, type RpcServer, serveRpc } from '@krbfleet/bus'
import {
  type Codec,
  ServiceName,
  TopologyOperation as Op,
  type TopologyOperation,
  type TopologyRequest,
  topologyRequestCodecs,
} from '@krbfleet/contracts'
import type { Logger } from 'pino'
import type { TSchema } from 'typebox'
import type { TopologyCommand } from '../../domain/index.ts'
import { listAgents } from '../../agents/list.ts'
import type { AgentStatusStore } from '../../agents/projection.ts'
import type { AgentEnrolments } from '../../enrolment/enrolment.ts'
import type { ChangeMeta, TopologyService } from '../../service.ts'

type Handler<O extends TopologyOperation> = (body: TopologyRequest<O>, ctx: RpcContext) => Promise<unknown>

const meta = (ctx: RpcContext, dryRun: boolean | undefined): ChangeMeta => ({
  actor: ctx.actor,
  correlationId: ctx.correlationId,
  dryRun: dryRun === true,
})

/** `dryRun` travels beside the command; the decider never sees it. */
function command<T extends { dryRun?: boolean | undefined }>(body: T): Omit<T, 'dryRun'> {
  const { dryRun: _dryRun, ...rest } = body
  return rest
}

/** The handler of every topology operation (request already decoded by serveRpc). */
export function topologyHandlers(
  service: TopologyService,
  enrolments: AgentEnrolments,
  agentStatus: AgentStatusStore,
) {
  const change = (ctx: RpcContext, dryRun: boolean | undefined, cmd: TopologyCommand) =>
    service.change(cmd, meta(ctx, dryRun))
  const handlers: { [O in TopologyOperation]: Handler<O> } = {
    [Op.SiteAdd]: (b, ctx) =>
      change(ctx, b.dryRun, { type: 'addSite', name: b.name, ntlmOnly: b.ntlmOnly === true }),
    [Op.SiteSet]: (b, ctx) => change(ctx, b.dryRun, { type: 'setSite', name: b.name, ntlmOnly: b.ntlmOnly }),
    [Op.SiteRemove]: (b, ctx) =>
      change(ctx, b.dryRun, { type: 'removeSite', name: b.name, force: b.force === true }),
    [Op.SiteList]: (b) => service.listSites(b.source),
    [Op.PoolAdd]: (b, ctx) => change(ctx, b.dryRun, { type: 'addPool', pool: command(b) }),
    [Op.PoolSet]: (b, ctx) => change(ctx, b.dryRun, { type: 'setPool', patch: command(b) }),
    [Op.PoolRemove]: (b, ctx) =>
      change(ctx, b.dryRun, { type: 'removePool', fqdn: b.fqdn, force: b.force === true }),
    [Op.PoolList]: (b) => service.listPools(b),
    [Op.ServerAdd]: (b, ctx) => change(ctx, b.dryRun, { type: 'addServer', server: command(b) }),
    [Op.ServerRemove]: (b, ctx) => change(ctx, b.dryRun, { type: 'removeServer', fqdn: b.fqdn }),
    [Op.ServerList]: (b) => service.listServers(b),
    [Op.AssignmentNew]: (b, ctx) =>
      change(ctx, b.dryRun, { type: 'newAssignment', site: b.site, account: b.account }),
    [Op.AssignmentSet]: (b, ctx) =>
      change(ctx, b.dryRun, { type: 'setAssignment', site: b.site, account: b.account }),
    [Op.AssignmentRemove]: (b, ctx) => change(ctx, b.dryRun, { type: 'removeAssignment', site: b.site }),
    [Op.AssignmentGet]: (b) => service.getAssignments(b),
    [Op.AgentEnrol]: (b, ctx) => enrolments.enrol(b, ctx),
    [Op.AgentToken]: (b, ctx) => enrolments.issueToken(b, ctx),
    [Op.AgentList]: (b) => listAgents(service, agentStatus, b),
    [Op.TopologyGet]: (b) => service.get(b.source),
    [Op.TopologyPlan]: (b, ctx) => service.plan(b.document, meta(ctx, true)),
    [Op.TopologyApply]: (b, ctx) => change(ctx, b.dryRun, { type: 'applyDocument', document: b.document }),
    [Op.TopologyEnable]: (b, ctx) => service.enable(meta(ctx, b.dryRun)),
  }
  return handlers
}

/** Serves every topology operation on NATS (queue group `topology`: replicas share the work). */
export function serveTopologyRpc(
  bus: Bus,
  service: TopologyService,
  enrolments: AgentEnrolments,
  agentStatus: AgentStatusStore,
  logger: Logger,
): RpcServer[] {
  const handlers = topologyHandlers(service, enrolments, agentStatus)
  return (Object.keys(handlers) as TopologyOperation[]).map((operation) =>
    serveRpc(bus, {
      service: ServiceName.Topology,
      operation,
      // One loop over every operation: TypeScript cannot pair each codec with its handler here.
      request: topologyRequestCodecs[operation] as Codec<TSchema>,
      handle: handlers[operation] as (body: unknown, ctx: RpcContext) => Promise<unknown>,
      logger,
      // The server comes from the subject, which each agent's NATS user may use only for its own.
      perServer: operation === Op.AgentEnrol,
    }),
  )
}
