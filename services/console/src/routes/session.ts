import type { ConsoleApp, RouteContext, RouteModule } from '../context.ts'
import { roleAllows } from '../domain/auth.ts'
import { rotationRole } from './rotations.ts'

/**
 * Who the caller's token is: its name, its role and what that role may do from the dashboard, so
 * that a viewer's page shows no button it would be refused (the routes still check the role).
 */
export const sessionRoutes: RouteModule = async (app: ConsoleApp, ctx: RouteContext) => {
  app.get(
    '/session',
    {
      schema: {
        tags: ['session'],
        summary: "The caller's token: name, role, and whether it may rotate passwords",
      },
    },
    async (req) => {
      const { name, role } = ctx.principal(req)
      return { name, role, mayRotate: roleAllows(role, rotationRole) }
    },
  )
}
