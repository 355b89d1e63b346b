import type { KV, RpcContext } from '@krbfleet/bus'
import {
  type AgentTokenResult,
  agentToken,
  type ChangeResult,
  ErrorCode,
  KrbfleetError,
  normalizeFqdn,
  type TopologyOperation,
  type TopologyDocument,
  type TopologyRequest,
} from '@krbfleet/contracts'
import type { Logger } from 'pino'
import type { TopologyService } from '../service.ts'
import { checkEnrolmentToken, hashToken, newEnrolmentToken, type StoredToken } from './tokens.ts'

export interface AgentEnrolmentsOptions {
  /** The topology bucket: tokens live under `agent-token.<server>`, beside the draft. */
  kv: KV
  service: TopologyService
  logger: Logger
  now?: () => Date
}

const tokenKey = (server: string) => `agent-token.${agentToken(server)}`
const DEFAULT_TTL_MINUTES = 24 * 60

/**
 * Enrolment bound to the agent's identity (issue 11). `agent.enrol` is served per server: the
 * server is the subject's last token, which each agent's NATS user may use only for its own server
 * (deploy/nats agentUser), so the body cannot name another one and the actor is always
 * `agent:<server>`, whatever header the caller set. The same key again is a no-op (an agent enrols
 * at every start). A first key, or a new one, needs the server's one-time token: issued by an
 * operator (`agent.token`), stored as its SHA-256 only, single use (deleted by compare-and-set, so
 * two racing enrolments cannot both use it; given back when the write then fails), expiring.
 */
export class AgentEnrolments {
  readonly #kv: KV
  readonly #service: TopologyService
  readonly #logger: Logger
  readonly #now: () => Date

  constructor(options: AgentEnrolmentsOptions) {
    this.#kv = options.kv
    this.#service = options.service
    this.#logger = options.logger.child({ component: 'enrolment' })
    this.#now = options.now ?? (() => new Date())
  }

  async issueToken(
    body: TopologyRequest<typeof TopologyOperation.AgentToken>,
    ctx: RpcContext,
  ): Promise<AgentTokenResult> {
    const server = normalizeFqdn(body.server, 'server')
    await this.#draftWith(server)
    const token = newEnrolmentToken()
    const now = this.#now()
    const record: StoredToken = {
      server,
      sha256: hashToken(token),
      issuedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + (body.ttlMinutes ?? DEFAULT_TTL_MINUTES) * 60_000).toISOString(),
      issuedBy: ctx.actor,
    }
    // A new token replaces one not yet used.
    await this.#kv.put(tokenKey(server), JSON.stringify(record))
    this.#logger.info({ server, expiresAt: record.expiresAt, actor: ctx.actor }, 'enrolment token issued')
    return { server, token, expiresAt: record.expiresAt }
  }

  async enrol(
    body: TopologyRequest<typeof TopologyOperation.AgentEnrol>,
    ctx: RpcContext,
  ): Promise<ChangeResult> {
    if (ctx.server === undefined) {
      throw new KrbfleetError(ErrorCode.Internal, 'agent.enrol is served per server; the subject names none')
    }
    const server = normalizeFqdn(ctx.server, 'server')
    const topology = await this.#draftWith(server)
    const current = topology.agents.find((a) => a.server === server)
    const meta = { actor: `agent:${server}`, correlationId: ctx.correlationId, dryRun: body.dryRun === true }
    const command = {
      type: 'enrolAgent' as const,
      server,
      encryptionKey: body.encryptionKey,
      enrolledAt: this.#now().toISOString(),
    }
    if (current?.encryptionKey === body.encryptionKey) return await this.#service.change(command, meta)

    const entry = await this.#kv.get(tokenKey(server))
    const stored = entry?.operation === 'PUT' ? (entry.json() as StoredToken) : null
    const check = checkEnrolmentToken(stored, server, body.token, this.#now())
    if (!check.ok) {
      this.#logger.warn({ server, replacing: current !== undefined }, `enrolment refused: ${check.rule}`)
      throw new KrbfleetError(ErrorCode.Forbidden, `token: ${check.rule}`, {
        field: 'token',
        retryable: false,
      })
    }
    if (meta.dryRun) return await this.#service.change(command, meta)
    try {
      await this.#kv.delete(tokenKey(server), { previousSeq: entry!.revision })
    } catch (err) {
      throw new KrbfleetError(
        ErrorCode.Conflict,
        `token: the enrolment token of ${server} was used meanwhile`,
        {
          field: 'token',
          retryable: false,
          cause: err,
        },
      )
    }
    try {
      return await this.#service.change(command, meta)
    } catch (err) {
      // The draft kept changing under it and nothing was written: the token is given back, so the
      // agent's retry can still enrol (`create` fails if a new one was issued meanwhile).
      if (err instanceof KrbfleetError && err.code === ErrorCode.Conflict) {
        await this.#kv
          .create(tokenKey(server), JSON.stringify(stored))
          .catch((cause) =>
            this.#logger.warn({ server, err: cause }, 'could not give the enrolment token back'),
          )
      }
      throw err
    }
  }

  /** The draft, refused as `not_found` when it has no server `server` (the agent retries on that). */
  async #draftWith(server: string): Promise<TopologyDocument> {
    const { topology } = await this.#service.get('draft')
    if (!topology.servers.some((s) => s.fqdn === server)) {
      throw new KrbfleetError(ErrorCode.NotFound, `server: ${server} is not a server of the topology`, {
        field: 'server',
        retryable: false,
      })
    }
    return topology
  }
}
