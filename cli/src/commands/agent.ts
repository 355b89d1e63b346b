import type { AgentRow, AgentTokenResult } from '@krbfleet/contracts'
import { type CommandModule, UsageError } from '../framework.ts'
import { table } from '../output.ts'

/** The agents on the web servers: enrolment tokens (and, with `agent list`, their state). */
export const agentCommands: CommandModule = {
  area: 'agent',
  summary: 'the agents on the web servers',
  verbs: {
    list: {
      summary: "every server's agent: enrolled, last heartbeat, kvnos held vs AD's, health",
      options: { site: { type: 'string' }, pool: { type: 'string' } },
      async run(ctx) {
        const query: Record<string, string> = {}
        for (const name of ['site', 'pool'] as const) {
          const value = ctx.options[name]
          if (typeof value === 'string') query[name] = value
        }
        const result = await ctx
          .client()
          .get<{ agents: Array<AgentRow & { adKvno: number | null; current: boolean }> }>('/v1/agents', query)
        const rows = result.agents.map((a) => ({
          server: a.server,
          site: a.site,
          backend: a.backend,
          enrolled: a.enrolled ? 'yes' : 'no',
          heartbeat: a.lastHeartbeat ?? '-',
          kvnos: a.kvnos.map((k) => String(k.kvno)).join(',') || '-',
          ad: a.adKvno === null ? '-' : `${a.adKvno}${a.current ? '' : ' (behind)'}`,
          health: a.health === null ? '-' : a.health.ok ? 'ok' : `FAIL: ${a.health.detail ?? ''}`,
        }))
        ctx.print(result, () =>
          table(rows, [
            ['server', 'SERVER'],
            ['site', 'SITE'],
            ['backend', 'BACKEND'],
            ['enrolled', 'ENROLLED'],
            ['heartbeat', 'LAST HEARTBEAT'],
            ['kvnos', 'KVNOS'],
            ['ad', 'AD KVNO'],
            ['health', 'HEALTH'],
          ]),
        )
        return 0
      },
    },
    token: {
      summary:
        "issue a server's one-time enrolment token (shown once; the agent needs it to enrol a new key)",
      args: ['SERVER'],
      options: { ttl: { type: 'string', description: 'minutes until it expires (1-43200, default 1440)' } },
      async run(ctx) {
        const ttl = ctx.options.ttl as string | undefined
        let ttlMinutes: number | undefined
        if (ttl !== undefined) {
          ttlMinutes = Number(ttl)
          if (!Number.isInteger(ttlMinutes) || ttlMinutes < 1 || ttlMinutes > 43_200) {
            throw new UsageError('--ttl must be a whole number of minutes from 1 to 43200')
          }
        }
        const server = ctx.args.SERVER!
        const result = await ctx
          .client()
          .post<AgentTokenResult>(
            `/v1/agents/${encodeURIComponent(server)}/token`,
            ttlMinutes === undefined ? {} : { ttlMinutes },
          )
        ctx.print(result, () =>
          [
            `enrolment token for ${result.server} (shown once, single use, expires ${result.expiresAt}):`,
            result.token,
            '',
            "On the server, write it where the agent reads it, readable by the agent's user only",
            '(KRBFLEET_AGENT_ENROL_TOKEN_FILE, default <state dir>/enrol-token); the agent deletes it once used:',
            "  umask 077; printf '%s\\n' '<token>' > /var/lib/krbfleet-agent/enrol-token",
          ].join('\n'),
        )
        return 0
      },
    },
  },
}
