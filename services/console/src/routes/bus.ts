import { type BusHealth, ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { ConsoleApp, RouteContext, RouteModule } from '../context.ts'

/**
 * The bus for operators (`krbfleet test topology`, monitoring): the events stream against its
 * limits and every durable consumer with its lag (pending, unacknowledged, redelivered). Anyone
 * may read it; it holds no message.
 */
export const busRoutes: RouteModule = async (app: ConsoleApp, ctx: RouteContext) => {
  app.get(
    '/bus',
    { schema: { tags: ['bus'], summary: 'The events stream and each durable consumer with its lag' } },
    async (): Promise<BusHealth> => {
      if (!ctx.bus)
        throw new KrbfleetError(ErrorCode.Unavailable, 'the bus health is not available on this console')
      return await ctx.bus.health()
    },
  )
}
