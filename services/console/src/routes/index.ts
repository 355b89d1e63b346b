import type { RouteModule } from '../context.ts'
import { accountRoutes } from './accounts.ts'
import { agentRoutes } from './agents.ts'
import { busRoutes } from './bus.ts'
import { eventRoutes } from './events.ts'
import { rotationRoutes } from './rotations.ts'
import { sessionRoutes } from './session.ts'
import { spnRoutes } from './spn.ts'
import { topologyRoutes } from './topology.ts'

/**
 * Every route module of the console, registered under /v1 in this order. To add an area, write
 * `routes/<area>.ts` exporting a RouteModule and add ONE line (import + entry) here (see README.md).
 */
// biome-ignore format: one module per line, so that each area adds one line
export const routeModules: RouteModule[] = [
  topologyRoutes,
  accountRoutes,
  spnRoutes,
  agentRoutes,
  rotationRoutes,
  eventRoutes,
  sessionRoutes,
  busRoutes,
]
