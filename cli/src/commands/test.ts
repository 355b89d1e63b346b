import type { CommandModule } from '../framework.ts'
import { runAccountTest } from './account.ts'
import { testAssignment, testTopology } from './test-assignment.ts'

/**
 * `krbfleet test ...`: the Test-Cs* cmdlets: `account` (the account's own checks), `assignment`
 * (Test-CsKerberosAccountAssignment) and `topology` (Test-CsTopology), test-assignment.ts. A failing
 * check exits 1.
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
    assignment: testAssignment,
    topology: testTopology,
  },
}
