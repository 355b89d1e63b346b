import type { CommandModule } from '../framework.ts'
import { runAccountTest } from './account.ts'

/**
 * `krbfleet test ...`: the Test-Cs* cmdlets. Each area adds its verb here (`account` now;
 * `assignment` and `topology` belong to their owners). A failing check exits 1.
 */
export const testCommands: CommandModule = {
  area: 'test',
  summary: 'run checks against AD and the running services (Test-Cs*)',
  verbs: {
    account: {
      summary: 'test DOMAIN\\NAME: exists, UAC, encryption types, password age vs policy, secret kvno, SPNs',
      args: ['ACCOUNT'],
      run: runAccountTest,
    },
  },
}
