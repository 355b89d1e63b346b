import type { CommandModule } from '../framework.ts'
import { accountCommands } from './account.ts'
import { agentCommands } from './agent.ts'
import { eventsCommands } from './events.ts'
import { passwordCommands } from './password.ts'
import { spnCommands } from './spn.ts'
import { testCommands } from './test.ts'
import { tokenCommands } from './token.ts'
import {
  assignmentCommands,
  poolCommands,
  serverCommands,
  siteCommands,
  topologyCommands,
} from './topology.ts'

/**
 * Every area of the krbfleet command, in the order `krbfleet --help` lists them. To add one, write
 * `commands/<area>.ts` exporting a CommandModule and add ONE line (import + entry) here (see README.md).
 */
// biome-ignore format: one module per line, so that each area adds one line
export const commandModules: CommandModule[] = [
  siteCommands,
  poolCommands,
  serverCommands,
  assignmentCommands,
  topologyCommands,
  accountCommands,
  passwordCommands,
  agentCommands,
  eventsCommands,
  spnCommands,
  testCommands,
  tokenCommands,
]
