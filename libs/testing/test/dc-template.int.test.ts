import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import type { DcTimings } from '../src/index.ts'

const run = promisify(execFile)

test('parallel processes on a cold cache provision the template once and each get a DC', async (t) => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'krbfleet-cache-'))
  t.after(() => rm(cacheDir, { recursive: true, force: true }))
  const child = join(import.meta.dirname, 'fixtures', 'dc-child.ts')
  const env = { ...process.env, KRBFLEET_CACHE_DIR: cacheDir }
  const reports = await Promise.all(
    [1, 2, 3].map(async () => {
      const { stdout } = await run(process.execPath, [child, 'once'], { env })
      return JSON.parse(stdout) as { address: string; timings: DcTimings }
    }),
  )
  t.diagnostic(`timings: ${JSON.stringify(reports.map((report) => report.timings))}`)
  assert.equal(reports.filter((report) => report.timings.provisionMs !== undefined).length, 1)

  const entries = await readdir(cacheDir)
  assert.equal(entries.length, 1, `only the template remains: ${entries.join(', ')}`)
  const [template] = entries as [string]
  assert.match(template, /^dc-template-.+-f\d+$/)
  const passwordFile = join(cacheDir, template, 'admin-password')
  assert.equal((await stat(passwordFile)).mode & 0o777, 0o600)
  // The template is stopped: no samba left holding its folder.
  assert.deepEqual(await readdir(join(cacheDir, template, 'dc', 'run')), [])
})
