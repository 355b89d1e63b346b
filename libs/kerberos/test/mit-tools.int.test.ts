/**
 * The keytab writer, the reader and the AD-salted string-to-key checked against MIT krb5's own
 * tools (ktutil, klist): what MIT writes we read to the same keys, what we write MIT lists.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { requireCommands } from '@krbfleet/testing'
import {
  adComputerSalt,
  decodeKeytab,
  deriveAccountKeys,
  EncType,
  encodeKeytab,
  encTypeNames,
  formatPrincipal,
  KeytabFormatError,
  mergeKeytabEntries,
  readKeytabFile,
  stringToKey,
  writeKeytabFile,
} from '../src/index.ts'

const account = { realm: 'CORP.EXAMPLE.COM', samAccountName: 'KERBAUTH$', dnsDomain: 'corp.example.com' }
const principal = 'KERBAUTH$@CORP.EXAMPLE.COM'
// No krb5.conf is needed for keytab work; never depend on the machine's /etc/krb5.conf.
const env = { ...process.env, KRB5_CONFIG: '/dev/null' }

let dir = ''

before(async () => {
  await requireCommands(['ktutil', 'klist'])
  dir = await mkdtemp(join(tmpdir(), 'krbfleet-kerberos-'))
})

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

function run(
  command: string,
  args: string[],
  input = '',
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (chunk) => (stdout += chunk))
    child.stderr?.on('data', (chunk) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    if (child.stdin) {
      child.stdin.on('error', () => {}) // a tool that exits early closes the pipe; its exit code tells
      child.stdin.end(input)
    }
  })
}

/** Builds a keytab with `ktutil addent -password ... -s <salt>`; the password goes in on stdin. */
async function ktutilFromPassword(
  file: string,
  password: string,
  adds: Array<{ kvno: number; enctype: EncType }>,
): Promise<void> {
  const salt = adComputerSalt(account)
  const script = adds
    .map(
      (a) =>
        `addent -password -p ${principal} -k ${a.kvno} -e ${encTypeNames[a.enctype]} -s ${salt}\n${password}\n`,
    )
    .join('')
  const result = await run('ktutil', [], `${script}wkt ${file}\nquit\n`)
  assert.equal(result.code, 0, result.stderr)
}

interface KlistLine {
  kvno: number
  principal: string
  enctype: string
  key: string
}

/** `klist -kte -K` lines: "   3 11/25/26 19:13:23 KERBAUTH$@CORP.EXAMPLE.COM (aes256-cts-hmac-sha1-96)  (0x67de...)". */
async function klist(file: string): Promise<KlistLine[]> {
  const result = await run('klist', ['-k', '-t', '-e', '-K', file])
  assert.equal(result.code, 0, result.stderr)
  return result.stdout
    .split('\n')
    .map((line) => /^\s*(\d+)\s+\S+\s+\S+\s+(\S+)\s+\(([\w-]+)\)\s+\(0x([0-9a-f]+)\)/.exec(line))
    .filter((match) => match !== null)
    .map((m) => ({ kvno: Number(m[1]), principal: m[2]!, enctype: m[3]!, key: m[4]! }))
}

describe('against MIT krb5 tools', () => {
  test('klist -kte lists a keytab we wrote: principal, kvno, enctype and key', async () => {
    const password = randomBytes(48).toString('base64url')
    const entries = mergeKeytabEntries(
      deriveAccountKeys({ ...account, password: `${password}-old`, kvno: 6 }),
      deriveAccountKeys({ ...account, password, kvno: 7 }),
    )
    const file = join(dir, 'ours.keytab')
    await writeKeytabFile(file, entries)
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    assert.deepEqual(
      await klist(file),
      entries.map((e) => ({
        kvno: e.kvno,
        principal: formatPrincipal(e.principal),
        enctype: encTypeNames[e.enctype as EncType],
        key: e.key.toString('hex'),
      })),
    )
    assert.deepEqual(
      (await klist(file)).map((l) => `${l.kvno} ${l.enctype}`),
      [
        '7 aes256-cts-hmac-sha1-96',
        '7 aes128-cts-hmac-sha1-96',
        '6 aes256-cts-hmac-sha1-96',
        '6 aes128-cts-hmac-sha1-96',
      ],
    )
  })

  test('a keytab from ktutil addent -password -s <AD salt> decodes to the keys our string-to-key computes', async () => {
    const password = `${randomBytes(40).toString('base64')}!"§ äö`
    const file = join(dir, 'mit.keytab')
    await ktutilFromPassword(file, password, [
      { kvno: 5, enctype: EncType.Aes256CtsHmacSha196 },
      { kvno: 5, enctype: EncType.Aes128CtsHmacSha196 },
    ])
    const mit = decodeKeytab(await readFile(file))
    const ours = deriveAccountKeys({ ...account, password, kvno: 5 })
    assert.equal(mit.length, 2)
    for (const [i, entry] of mit.entries()) {
      assert.equal(formatPrincipal(entry.principal), principal)
      assert.equal(entry.principal.nameType, 1)
      assert.equal(entry.kvno, 5)
      assert.equal(entry.enctype, ours[i]?.enctype)
      assert.equal(entry.key.toString('hex'), ours[i]?.key.toString('hex'))
    }
    // Byte for byte: our writer, given MIT's timestamps, produces MIT's file.
    const sameTime = ours.map((entry, i) => ({ ...entry, timestamp: mit[i]!.timestamp }))
    assert.deepEqual(encodeKeytab(sameTime), await readFile(file))
  })

  test('kvno above 255 both ways', async () => {
    const password = randomBytes(30).toString('hex')
    const mitFile = join(dir, 'mit-300.keytab')
    await ktutilFromPassword(mitFile, password, [{ kvno: 300, enctype: EncType.Aes256CtsHmacSha196 }])
    const [mitEntry] = decodeKeytab(await readFile(mitFile))
    assert.equal(mitEntry?.kvno, 300)
    assert.deepEqual(
      mitEntry?.key,
      stringToKey(EncType.Aes256CtsHmacSha196, password, adComputerSalt(account)),
    )

    const ourFile = join(dir, 'ours-70000.keytab')
    await writeKeytabFile(ourFile, deriveAccountKeys({ ...account, password, kvno: 70_000 }))
    assert.deepEqual(
      (await klist(ourFile)).map((l) => l.kvno),
      [70_000, 70_000],
    )
  })

  test('ktutil reads our keytab and writes back the same bytes', async () => {
    const ours = join(dir, 'roundtrip-ours.keytab')
    const back = join(dir, 'roundtrip-mit.keytab')
    await writeKeytabFile(ours, [
      ...deriveAccountKeys({ ...account, password: 'one', kvno: 1 }),
      ...deriveAccountKeys({ ...account, password: 'two', kvno: 258 }),
    ])
    const result = await run('ktutil', [], `rkt ${ours}\nwkt ${back}\nquit\n`)
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(await readFile(back), await readFile(ours))
    assert.deepEqual(await readKeytabFile(back), await readKeytabFile(ours))
  })

  test('a truncated file: MIT silently drops the cut entry, we give a clear KeytabFormatError', async () => {
    const whole = encodeKeytab(deriveAccountKeys({ ...account, password: 'pw', kvno: 2 }))
    const file = join(dir, 'truncated.keytab')
    await writeFile(file, whole.subarray(0, whole.length - 10), { mode: 0o600 })
    // klist stops at the cut entry without a word (exit 0, the aes128 key missing): a keytab
    // that silently lost a key is worse than a refused one, so the reader refuses it.
    const listed = await klist(file)
    assert.deepEqual(
      listed.map((l) => l.enctype),
      ['aes256-cts-hmac-sha1-96'],
    )
    await assert.rejects(readKeytabFile(file), (err: unknown) => {
      assert.ok(err instanceof KeytabFormatError)
      assert.match(err.message, /^invalid keytab at byte \d+: truncated/)
      return true
    })
  })
})
