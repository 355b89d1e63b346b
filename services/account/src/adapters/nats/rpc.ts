import { type Bus, callRpc, type RpcServer, serveRpc } from '@krbfleet/bus'
import {
  AccountCreateRequest,
  AccountListRequest,
  AccountRemoveRequest,
  AccountShowRequest,
  AccountTestRequest,
  accountOperations,
  KrbfleetError,
  PasswordCopyRequest,
  type PasswordCopyResult,
  PasswordResetRequest,
  PasswordSetRequest,
  RotationShowRequest,
  type RotationView,
  ServiceName,
  spnOperations,
} from '@krbfleet/contracts'
import type { Logger } from 'pino'
import type { DesiredSpnSource } from '../../ports.ts'
import type { CallContext } from '../../domain/events.ts'
import type { AccountService } from '../../service.ts'

/** The rotation operations (rotation/): the saga and the copy mode. */
export interface RotationOperations {
  start(body: PasswordSetRequest, ctx: CallContext): Promise<RotationView>
  show(body: RotationShowRequest): Promise<RotationView>
  copy(body: PasswordCopyRequest, ctx: CallContext): Promise<PasswordCopyResult>
}

/** The operations of service `account` on core NATS request/reply (queue group per service). */
export function serveAccountRpc(
  bus: Bus,
  service: AccountService,
  logger: Logger,
  observe: (operation: string, outcome: string) => void = () => {},
  rotation?: RotationOperations,
): RpcServer[] {
  const s = ServiceName.Account
  /** Counts each answer by outcome (`ok` or the error code) for /metrics. */
  const counted =
    <A extends unknown[], R>(operation: string, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        const result = await fn(...args)
        observe(operation, 'ok')
        return result
      } catch (err) {
        observe(operation, err instanceof KrbfleetError ? err.code : 'internal')
        throw err
      }
    }
  return [
    serveRpc(bus, {
      service: s,
      operation: accountOperations.create,
      request: AccountCreateRequest,
      logger,
      handle: counted(accountOperations.create, (body, ctx) => service.create(body, ctx)),
    }),
    serveRpc(bus, {
      service: s,
      operation: accountOperations.list,
      // `krbfleet account list` may send no body at all.
      request: { ...AccountListRequest, decode: (v: unknown) => AccountListRequest.decode(v ?? {}) },
      logger,
      handle: counted(accountOperations.list, async () => ({ accounts: await service.list() })),
    }),
    serveRpc(bus, {
      service: s,
      operation: accountOperations.show,
      request: AccountShowRequest,
      logger,
      handle: counted(accountOperations.show, (body) => service.show(body.account)),
    }),
    serveRpc(bus, {
      service: s,
      operation: accountOperations.remove,
      request: AccountRemoveRequest,
      logger,
      handle: counted(accountOperations.remove, (body, ctx) => service.remove(body, ctx)),
    }),
    serveRpc(bus, {
      service: s,
      operation: accountOperations.test,
      request: AccountTestRequest,
      logger,
      handle: counted(accountOperations.test, (body, ctx) => service.test(body.account, ctx)),
    }),
    serveRpc(bus, {
      service: s,
      operation: accountOperations.passwordReset,
      request: PasswordResetRequest,
      logger,
      handle: counted(accountOperations.passwordReset, (body, ctx) => service.resetPassword(body, ctx)),
    }),
    ...(rotation
      ? [
          serveRpc(bus, {
            service: s,
            operation: accountOperations.passwordSet,
            request: PasswordSetRequest,
            logger,
            handle: counted(accountOperations.passwordSet, (body, ctx) => rotation.start(body, ctx)),
          }),
          serveRpc(bus, {
            service: s,
            operation: accountOperations.rotationShow,
            request: RotationShowRequest,
            logger,
            handle: counted(accountOperations.rotationShow, (body) => rotation.show(body)),
          }),
          serveRpc(bus, {
            service: s,
            operation: accountOperations.passwordCopy,
            request: PasswordCopyRequest,
            logger,
            handle: counted(accountOperations.passwordCopy, (body, ctx) => rotation.copy(body, ctx)),
          }),
        ]
      : []),
  ]
}

/**
 * spn-sync's `spn.desired`: the SPNs the enabled topology wants on the account. When spn-sync is
 * not running or does not answer in time, `test account` reports the SPN check as unknown.
 */
export class RpcDesiredSpnSource implements DesiredSpnSource {
  readonly #bus: Bus
  readonly #logger: Logger
  readonly #timeoutMs: number
  constructor(bus: Bus, logger: Logger, timeoutMs = 3000) {
    this.#bus = bus
    this.#logger = logger
    this.#timeoutMs = timeoutMs
  }

  async desiredSpns(account: string, actor: string): Promise<string[] | null> {
    try {
      const result = await callRpc<{ spns?: unknown }>(
        this.#bus,
        ServiceName.SpnSync,
        spnOperations.desired,
        { account },
        { actor, timeoutMs: this.#timeoutMs },
      )
      const spns = result?.spns
      if (!Array.isArray(spns) || !spns.every((s) => typeof s === 'string')) return null
      return spns
    } catch (err) {
      const code = err instanceof KrbfleetError ? err.code : 'internal'
      this.#logger.info({ code, account }, 'spn-sync did not give the desired SPNs')
      return null
    }
  }
}
