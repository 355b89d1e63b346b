import type { AgentTokenResult } from '@krbfleet/contracts'
import { type CommandModule, UsageError } from '../framework.ts'

/** The agents on the web servers: enrolment tokens (and, with `agent list`, their state). */
export const agentCommands: CommandModule = {
  area: 'agent',
  summary: 'the agents on the web servers',
  verbs: {
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
