/**
 * The krbfleet lab: `node deploy/lab/lab.ts up|down|reset|status` (npm run lab, lab:down,
 * lab:reset). See deploy/lab/README.md. The lab folder is `.lab/` or `$LAB_DIR`.
 */
import { defaultLabRoot, down, reset, status, up } from './src/lab.ts'

const usage = 'usage: node deploy/lab/lab.ts up|down|reset|status   (lab folder: $LAB_DIR or .lab/)'
// Ctrl-C or SIGTERM during `up` aborts it like a failure: what this run started is stopped again.
const interrupt = new AbortController()
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => interrupt.abort(new Error(`interrupted by ${signal}`)))
}
const options = {
  root: defaultLabRoot(process.env),
  print: (line: string) => console.log(line),
  signal: interrupt.signal,
}
const command = process.argv[2] ?? 'up'

try {
  if (command === 'up') await up(options)
  else if (command === 'down') await down(options)
  else if (command === 'reset') await reset(options)
  else if (command === 'status') process.exitCode = (await status(options)) ? 0 : 1
  else {
    console.error(usage)
    process.exitCode = 2
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error))
  process.exitCode = 1
}
