/**
 * spn-sync's real process (src/main.ts, runSpnSync) for crash tests: it SIGKILLs itself at the
 * write point named by its first argument (after-intent: the intent is recorded, AD not yet
 * written; after-modify: AD written, the intent not yet confirmed). Test-only: production runs
 * src/main.ts, which no setting can make crash.
 *
 *   node services/spn-sync/test/crashing-main.ts after-intent
 */
import { crashAtArgument } from '@krbfleet/testing'
import type { Failpoint } from '../src/index.ts'
import { runSpnSync } from '../src/main.ts'

await runSpnSync({ failpoint: crashAtArgument<Failpoint>(['after-intent', 'after-modify']) })
