import type { Bus } from '@krbfleet/bus'
import { CredentialApplied, CredentialApplyFailed, CredentialStaged } from '@krbfleet/contracts'
type Subscription = ReturnType<Bus['nc']['subscribe']>
import type { Logger } from 'pino'
import type { AgentReport } from '../../rotation/decide.ts'

/**
 * The agents' reports a running rotation counts (CredentialStaged, CredentialApplied,
 * CredentialApplyFailed), heard as they are published: a core subscription on their per-server
 * subjects, no consumer and no acknowledgement, so thousands of agents reporting at once are
 * counted as fast as they arrive. What is missed while the service is down is read back from the
 * agents bucket when the saga resumes (rotation/decide.ts countStatuses). A report is trusted only
 * for the server its subject names (the agent's NATS user may publish only its own).
 */
export function listenToAgentReports(
  bus: Pick<Bus, 'nc'>,
  logger: Logger,
  onReport: (report: AgentReport) => void,
): { stop(): void } {
  const definitions = [
    { definition: CredentialStaged, kind: 'staged' },
    { definition: CredentialApplied, kind: 'applied' },
    { definition: CredentialApplyFailed, kind: 'failed' },
  ] as const
  const subscriptions: Subscription[] = definitions.map(({ definition, kind }) =>
    bus.nc.subscribe(definition.subjects, {
      callback: (err, msg) => {
        if (err) return
        try {
          const envelope = definition.decode(msg.json())
          const data = envelope.data as { server: string; account?: string; kvno?: number; reason?: string }
          if (definition.subjectOf(envelope.data as never) !== msg.subject) {
            logger.warn(
              { subject: msg.subject, server: data.server },
              'a report names another server than its subject; ignored',
            )
            return
          }
          if (data.account === undefined || data.kvno === undefined) return
          onReport({
            kind,
            server: data.server,
            account: data.account,
            kvno: data.kvno,
            ...(data.reason === undefined ? {} : { reason: data.reason }),
          })
        } catch (cause) {
          logger.debug({ err: cause, subject: msg.subject }, 'an agent report does not decode; ignored')
        }
      },
    }),
  )
  return {
    stop() {
      for (const s of subscriptions) s.unsubscribe()
    },
  }
}
