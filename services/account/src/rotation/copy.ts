import {
  ErrorCode,
  KrbfleetError,
  type PasswordCopyRequest,
  type PasswordCopyResult,
} from '@krbfleet/contracts'
import type { Logger } from 'pino'
import { type ServedServer, servedServers } from '../domain/deliveries.ts'
import type { CallContext } from '../domain/events.ts'
import type { AccountStore, EnabledTopologySource } from '../ports.ts'

export interface PasswordCopyOptions {
  topology: EnabledTopologySource
  accounts: AccountStore
  /** Issues the server's credential again, whatever the bucket says it holds (credentials/issuer.ts). */
  reissue: (server: string) => Promise<void>
  logger: Logger
}

/**
 * Set-CsKerberosAccountPassword -FromComputer -ToComputer (mode 2): the target server gets the
 * credential the source holds (the same account, the same kvno), AD untouched. Both must be
 * served by one account in the enabled revision. In krbfleet every server already gets its
 * account's credential by itself; the copy issues it again to the target, so a server whose keys
 * were lost or damaged by hand gets them back now.
 */
export async function copyCredential(
  options: PasswordCopyOptions,
  request: PasswordCopyRequest,
  ctx: CallContext,
): Promise<PasswordCopyResult> {
  const served = servedServers(await options.topology.enabledTopology())
  const find = (field: 'from' | 'to'): ServedServer => {
    const name = request[field].toLowerCase()
    const server = served.find((s) => s.server.toLowerCase() === name)
    if (!server) {
      throw new KrbfleetError(
        ErrorCode.NotFound,
        `${field}: ${request[field]} is not a server of the enabled topology`,
        { field },
      )
    }
    return server
  }
  const from = find('from')
  const to = find('to')
  if (from.account === undefined) {
    throw new KrbfleetError(
      ErrorCode.Conflict,
      `from: the site ${from.site} of ${from.server} has no Kerberos account assigned`,
      { field: 'from' },
    )
  }
  if (to.account?.toUpperCase() !== from.account.toUpperCase()) {
    throw new KrbfleetError(
      ErrorCode.Conflict,
      `to: ${to.server} (site ${to.site}) is served by ${to.account ?? 'no account'}, ${from.server} (site ${from.site}) by ${from.account}: a copy needs both served by one account`,
      { field: 'to' },
    )
  }
  if (to.encryptionKey === undefined) {
    throw new KrbfleetError(
      ErrorCode.Conflict,
      `to: no agent is enrolled on ${to.server} (\`krbfleet agent token ${to.server}\`)`,
      { field: 'to' },
    )
  }
  const stored = await options.accounts.get(from.account)
  const kvno = stored?.record.secret?.kvno
  if (kvno === undefined || stored?.record.removing) {
    throw new KrbfleetError(ErrorCode.Conflict, `from: krbfleet holds no secret of ${from.account}`, {
      field: 'from',
    })
  }
  const result = {
    account: from.account,
    from: from.server,
    to: to.server,
    kvno,
    dryRun: request.dryRun === true,
  }
  if (result.dryRun) return result
  await options.reissue(to.server)
  options.logger.info({ ...result, actor: ctx.actor }, 'credential copied')
  return result
}
