/**
 * spn-sync's real process (src/main.ts, runSpnSync) for crash tests: it SIGKILLs itself at the
 * write point named by its first argument (after-intent: the intent is recorded, AD not yet
 * written; after-modify: AD written, the intent not yet confirmed). Test-only: production runs
 * src/main.ts, which no setting can make crash.
 *
 *   node services/spn-sync/test/crashing-main.ts after-intent
 */
import type { Failpoint } from '../src/index.ts'
import { runSpnSync } from '../src/main.ts'

const points: readonly string[] = ['after-intent', 'after-modify'] satisfies Failpoint[]
const crashAt = process.argv[2] ?? ''
if (!points.includes(crashAt)) {
  process.stderr.write(`usage: crashing-main.ts ${points.join('|')}\n`)
  process.exit(2)
}

await runSpnSync({
  failpoint(point, logger) {
    if (point !== crashAt) return
    logger.fatal({ failpoint: point }, 'failpoint reached: killing the process')
    logger.flush()
    process.kill(process.pid, 'SIGKILL')
  },
})
