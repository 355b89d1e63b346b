import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { canListen, freePort, portLockRoot } from '../src/index.ts'

const run = promisify(execFile)

test('freePort leases distinct ports below the ephemeral range, each one free to listen on', async () => {
  const ports = new Set<number>()
  for (let i = 0; i < 50; i++) {
    const port = await freePort()
    assert.ok(port >= 20_000 && port <= 32_767, `port ${port} outside 20000-32767`)
    assert.equal(ports.has(port), false, `port ${port} handed out twice`)
    ports.add(port)
    assert.equal(await readFile(join(portLockRoot, String(port), 'pid'), 'utf8'), String(process.pid))
    assert.equal(await canListen(port), true)
  }
})

test('canListen is false for a port someone listens on', async (t) => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => server.close())
  const address = server.address()
  assert.ok(address && typeof address === 'object')
  assert.equal(await canListen(address.port), false)
})

test('the leases of a process that exits are given back; another lock folder can be chosen', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'krbfleet-ports-'))
  t.after(() => rm(root, { recursive: true, force: true }))
  const source = `import { freePort } from ${JSON.stringify(join(import.meta.dirname, '..', 'src', 'index.ts'))}
const ports = [await freePort('127.0.0.1', ${JSON.stringify(root)}), await freePort('127.0.0.1', ${JSON.stringify(root)})]
process.stdout.write(JSON.stringify(ports))`
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', source])
  const ports = JSON.parse(stdout) as number[]
  assert.equal(ports.length, 2)
  assert.notEqual(ports[0], ports[1])
  for (const port of ports) assert.equal(existsSync(join(root, String(port))), false, `lease of ${port} kept`)
})
