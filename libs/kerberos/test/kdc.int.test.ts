/**
 * The keys are right when the real KDC says so: a computer account is created in a Samba AD DC
 * (Heimdal KDC), a keytab is written from its password with our string-to-key and AD salt, and
 * `kinit -k -t` gets a ticket with it. A wrong password, the MIT default salt or the key of the
 * kvno before a reset do not. (The account service's own tests repeat this through the service.)
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { kerberosEnv, requireCommands, startDc, type TestDc } from '@krbfleet/testing'
import { Attribute, Change, Client } from 'ldapts'
import {
  deriveAccountKeys,
  EncType,
  encTypeNames,
  type KeytabEntry,
  mergeKeytabEntries,
  NameType,
  stringToKey,
  writeKeytabFile,
} from '../src/index.ts'

const NAME = 'KFKRBTEST'
let dc: TestDc
let ldap: Client
let dir = ''
let dn = ''

before(async () => {
  await requireCommands(['kinit', 'klist'])
  dc = await startDc()
  dir = await mkdtemp(join(tmpdir(), 'krbfleet-kdc-'))
  ldap = new Client({
    url: dc.ldapsUrl,
    tlsOptions: { ca: await readFile(dc.caFile), servername: dc.tlsServername },
  })
  await ldap.bind(dc.adminDn, dc.adminPassword)
  dn = `CN=${NAME},CN=Computers,${dc.baseDn}`
})

after(async () => {
  await ldap?.unbind().catch(() => {})
  await dc?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** MS-ADTS 3.1.1.3.1.5.1: unicodePwd is the UTF-16LE of the password in double quotes. */
const unicodePwd = (password: string) => Buffer.from(`"${password}"`, 'utf16le')

async function readKvno(): Promise<number> {
  const { searchEntries } = await ldap.search(dn, { scope: 'base', attributes: ['msDS-KeyVersionNumber'] })
  return Number(searchEntries[0]?.['msDS-KeyVersionNumber'])
}

async function kinitWithKeytab(
  keytab: string,
  krb5Conf?: string,
): Promise<{ code: number | null; stderr: string }> {
  const env = {
    ...process.env,
    ...kerberosEnv(dc),
    ...(krb5Conf ? { KRB5_CONFIG: krb5Conf } : {}),
    KRB5CCNAME: `FILE:${join(dir, 'cc')}`,
  }
  return new Promise((resolve, reject) => {
    const child = spawn('kinit', ['-k', '-t', keytab, `${NAME}$@${dc.realm}`], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stderr }))
  })
}

async function keytabFile(name: string, entries: KeytabEntry[]): Promise<string> {
  const file = join(dir, name)
  await writeKeytabFile(file, entries)
  return file
}

const keysFor = (password: string, kvno: number) =>
  deriveAccountKeys({ password, realm: dc.realm, samAccountName: `${NAME}$`, dnsDomain: dc.dnsDomain, kvno })

describe('keytabs from our string-to-key against the Samba KDC', () => {
  const password = randomBytes(48).toString('base64url')
  let kvno = 0

  before(async () => {
    const values: Record<string, string[] | Buffer[]> = {
      objectClass: ['top', 'person', 'organizationalPerson', 'user', 'computer'],
      sAMAccountName: [`${NAME}$`],
      userAccountControl: ['4096'],
      dNSHostName: [`${NAME.toLowerCase()}.${dc.dnsDomain}`],
      'msDS-SupportedEncryptionTypes': ['24'],
      unicodePwd: [unicodePwd(password)],
    }
    await ldap.add(
      dn,
      Object.entries(values).map(([type, vals]) => new Attribute({ type, values: vals })),
    )
    kvno = await readKvno()
  })

  test('kinit -k -t works with the keytab written from the password', async () => {
    const result = await kinitWithKeytab(await keytabFile('good.keytab', keysFor(password, kvno)))
    assert.equal(result.code, 0, result.stderr)
  })

  test('each AES type alone is accepted', async () => {
    for (const enctype of [EncType.Aes256CtsHmacSha196, EncType.Aes128CtsHmacSha196]) {
      // The KDC offers aes256 first; a client limited to one type makes it use that type's key.
      const conf = join(dir, `krb5-${enctype}.conf`)
      const base = await readFile(dc.krb5Conf, 'utf8')
      await writeFile(
        conf,
        base.replace('[libdefaults]', `[libdefaults]\n\tpermitted_enctypes = ${encTypeNames[enctype]}`),
      )
      const only = keysFor(password, kvno).filter((entry) => entry.enctype === enctype)
      const result = await kinitWithKeytab(await keytabFile(`only-${enctype}.keytab`, only), conf)
      assert.equal(result.code, 0, result.stderr)
    }
    // The restriction is real: limited to aes128, a keytab holding only the aes256 key fails.
    const aes256Only = keysFor(password, kvno).filter(
      (entry) => entry.enctype === EncType.Aes256CtsHmacSha196,
    )
    const mismatch = await kinitWithKeytab(
      await keytabFile('mismatch.keytab', aes256Only),
      join(dir, 'krb5-17.conf'),
    )
    assert.notEqual(mismatch.code, 0)
  })

  test('a wrong password fails', async () => {
    const result = await kinitWithKeytab(await keytabFile('wrong.keytab', keysFor(`${password}x`, kvno)))
    assert.notEqual(result.code, 0)
    assert.match(result.stderr, /Preauthentication failed|Password incorrect|decrypt integrity/i)
  })

  test('the MIT default salt (REALM + principal) fails: the AD salt is what makes it work', async () => {
    const entry: KeytabEntry = {
      principal: { realm: dc.realm, components: [`${NAME}$`], nameType: NameType.Principal },
      timestamp: Math.floor(Date.now() / 1000),
      kvno,
      enctype: EncType.Aes256CtsHmacSha196,
      key: stringToKey(EncType.Aes256CtsHmacSha196, password, `${dc.realm}${NAME}$`),
    }
    const result = await kinitWithKeytab(await keytabFile('default-salt.keytab', [entry]))
    assert.notEqual(result.code, 0)
  })

  test('after a password reset the old keytab fails and old + new kvnos in one keytab works', async () => {
    const oldKeys = keysFor(password, kvno)
    const oldKeytab = await keytabFile('old.keytab', oldKeys)
    const next = randomBytes(48).toString('base64url')
    await ldap.modify(
      dn,
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(next)] }),
      }),
    )
    const nextKvno = await readKvno()
    assert.equal(nextKvno, kvno + 1)

    assert.notEqual((await kinitWithKeytab(oldKeytab)).code, 0)
    const both = await keytabFile('both.keytab', mergeKeytabEntries(oldKeys, keysFor(next, nextKvno)))
    const result = await kinitWithKeytab(both)
    assert.equal(result.code, 0, result.stderr)
  })
})
