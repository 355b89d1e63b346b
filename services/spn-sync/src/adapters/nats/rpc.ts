import {
  ServiceName,
  SpnDesiredRequest,
  SpnDuplicatesRequest,
  SpnListRequest,
  SpnPlanRequest,
  SpnQueryRequest,
  SpnReconcileRequest,
  spnOperations,
} from '@krbfleet/contracts'
import { type Bus, type RpcServer, serveRpc } from '@krbfleet/bus'
import type { Logger } from '@krbfleet/logging'
import type { SpnReconciler } from '../../service.ts'

/**
 * The request/reply operations of service `spn-sync` (names in @krbfleet/contracts rpc-spn.ts).
 * Every body is decoded by serveRpc before the reconciler sees it; bad input is answered as
 * `invalid` / `rule_violation` naming the field and changes nothing.
 */
export function serveSpnRpc(bus: Bus, reconciler: SpnReconciler, logger: Logger): RpcServer[] {
  const service = ServiceName.SpnSync
  return [
    serveRpc(bus, {
      service,
      logger,
      operation: spnOperations.plan,
      request: SpnPlanRequest,
      handle: (body) => reconciler.plan(body.account),
    }),
    serveRpc(bus, {
      service,
      logger,
      operation: spnOperations.list,
      request: SpnListRequest,
      handle: (body) => reconciler.list(body.account),
    }),
    serveRpc(bus, {
      service,
      logger,
      operation: spnOperations.query,
      request: SpnQueryRequest,
      handle: (body) => reconciler.query(body.spn),
    }),
    serveRpc(bus, {
      service,
      logger,
      operation: spnOperations.duplicates,
      request: SpnDuplicatesRequest,
      handle: () => reconciler.duplicates(),
    }),
    serveRpc(bus, {
      service,
      logger,
      operation: spnOperations.desired,
      request: SpnDesiredRequest,
      handle: (body) => reconciler.desired(body.account),
    }),
    serveRpc(bus, {
      service,
      logger,
      operation: spnOperations.reconcile,
      request: SpnReconcileRequest,
      handle: (body, ctx) => {
        ctx.logger.info({ account: body.account ?? '*' }, 'reconcile requested')
        return reconciler.reconcileNow(body.account)
      },
    }),
  ]
}
