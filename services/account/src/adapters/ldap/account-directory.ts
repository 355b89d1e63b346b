import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import { type Directory, type DirectoryEntry, encodeUnicodePwd, filter } from '@krbfleet/directory'
import { fileTimeToDate, MANAGED_MARKER } from '../../domain/account.ts'
import type { AccountDirectory, DirectoryAccount } from '../../ports.ts'

const accountAttributes = [
  'sAMAccountName',
  'dNSHostName',
  'description',
  'userAccountControl',
  'msDS-SupportedEncryptionTypes',
  'pwdLastSet',
  'servicePrincipalName',
  'objectGUID',
]
/** Binary attributes: ldapts would otherwise decode them as (mangled) UTF-8. */
const binaryAttributes = ['objectGUID']

/** The account service's view of AD, over @krbfleet/directory (which escapes, maps errors, refuses clear text). */
export class LdapAccountDirectory implements AccountDirectory {
  readonly #directory: Directory
  readonly #baseDn: string

  constructor(directory: Directory, baseDn?: string) {
    this.#directory = directory
    this.#baseDn = baseDn ?? directory.baseDn
  }

  get encrypted(): boolean {
    return this.#directory.encrypted
  }

  async findAccount(samAccountName: string): Promise<DirectoryAccount | null> {
    const entry = await this.#directory.findOne(
      this.#baseDn,
      filter.and(filter.eq('objectClass', 'user'), filter.eq('sAMAccountName', samAccountName)),
      { attributes: accountAttributes, binaryAttributes },
    )
    return entry ? await this.#toAccount(entry) : null
  }

  async containerExists(dn: string): Promise<boolean> {
    return await this.#directory.exists(dn)
  }

  async listMarked(): Promise<DirectoryAccount[]> {
    const entries = await this.#directory.search(
      this.#baseDn,
      filter.and(filter.eq('objectClass', 'computer'), filter.startsWith('description', MANAGED_MARKER)),
      { attributes: accountAttributes, binaryAttributes, paged: true },
    )
    return await Promise.all(entries.map((e) => this.#toAccount(e)))
  }

  async createAccount(
    dn: string,
    attributes: Record<string, string | string[]>,
    password: string,
  ): Promise<void> {
    // One add with the password (lab/NOTES.md): the account never exists without its secret.
    // The directory refuses unicodePwd on an unencrypted connection before sending anything.
    await this.#directory.add(dn, { ...attributes, unicodePwd: encodeUnicodePwd(password) })
  }

  async modifyAccount(dn: string, attributes: Record<string, string>): Promise<void> {
    await this.#directory.modify(
      dn,
      Object.entries(attributes).map(([attribute, value]) => ({
        operation: 'replace' as const,
        attribute,
        values: [value],
      })),
    )
  }

  async setPassword(dn: string, password: string): Promise<void> {
    await this.#directory.setPassword(dn, password)
  }

  async readKvno(dn: string): Promise<number | null> {
    try {
      return await this.#directory.readKvno(dn)
    } catch (err) {
      if (err instanceof KrbfleetError && err.code === ErrorCode.NotFound) return null
      throw err
    }
  }

  async deleteAccount(dn: string): Promise<void> {
    await this.#directory.delete(dn)
  }

  async ping(): Promise<boolean> {
    try {
      await this.#directory.rootDse()
      return true
    } catch {
      return false
    }
  }

  async #toAccount(entry: DirectoryEntry): Promise<DirectoryAccount> {
    // msDS-KeyVersionNumber is constructed: read by name with a base search (MS-ADTS 3.1.1.4.5).
    const kvno = await this.readKvno(entry.dn)
    return {
      dn: entry.dn,
      samAccountName: entry.value('sAMAccountName') ?? '',
      dnsHostName: entry.value('dNSHostName') ?? null,
      description: entry.value('description') ?? null,
      userAccountControl: entry.integer('userAccountControl') ?? null,
      encryptionTypes: entry.integer('msDS-SupportedEncryptionTypes') ?? null,
      kvno,
      passwordLastSet: fileTimeToDate(entry.value('pwdLastSet') ?? null),
      servicePrincipalNames: entry.values('servicePrincipalName'),
      objectGuid: entry.buffers('objectGUID')[0]?.toString('hex') ?? null,
    }
  }
}
