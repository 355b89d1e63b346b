import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import * as net from 'node:net'
import * as tls from 'node:tls'
import { ErrorCode, KrbfleetError, ValidationError } from '@krbfleet/contracts'
import type { Logger } from '@krbfleet/logging'
import { Attribute, Change, Client, type Entry } from 'ldapts'
import { normalizeDn, parseDn } from '../../domain/dn.ts'
import { mapLdapError, SpnConflictError } from '../../domain/errors.ts'
import { checkAttributeName, type Filter, filter } from '../../domain/filter.ts'
import { encodeUnicodePwd, passwordAttributes } from '../../domain/password.ts'
import {
  defaultSpnMappings,
  parseSpn,
  parseSpnMappings,
  type SpnMappings,
  spnConflictCandidates,
} from '../../domain/spn.ts'
import { toLdaptsFilter } from './filter.ts'

export interface ConnectDirectoryOptions {
  /** `ldaps://host:636`, or `ldap://host:389` with `startTls: true`. */
  url: string
  /** Upgrade an ldap:// connection with StartTLS (RFC 4511 4.14) before binding. */
  startTls?: boolean
  /** The CA certificate(s) (PEM) the DC's certificate must chain to. One of ca / caFile is required for TLS. */
  ca?: string | Buffer
  caFile?: string
  /** The name the DC's certificate carries (Samba's: DC1.corp.example.com); defaults to the URL's host name. */
  servername?: string
  bindDn: string
  password: string
  /** Per operation and for connecting; default 10 000 ms. */
  timeoutMs?: number
  /**
   * Allow plain ldap:// without StartTLS, for reads only: `encrypted` is then false and every
   * password write is refused before anything is sent.
   */
  allowInsecure?: boolean
  logger?: Logger
}

/** One value of an attribute to write. Numbers are written in decimal. */
export type AttributeValue = string | number | Uint8Array

/** A change in plain form; ldapts `Change` objects are accepted too. */
export interface AttributeChange {
  operation: 'add' | 'delete' | 'replace'
  attribute: string
  values: AttributeValue[]
}

export interface SearchOptions {
  /** Default `sub`. */
  scope?: 'base' | 'one' | 'sub'
  /** Attributes to return; constructed ones (msDS-KeyVersionNumber) must be named. */
  attributes?: string[]
  /** At most this many entries (the DC may cap lower); more are dropped without error. */
  sizeLimit?: number
  /** Page the search (RFC 2696) so it can return more than the DC's MaxPageSize. */
  paged?: boolean | { pageSize: number }
  /** Attributes to return as bytes (objectGUID, objectSid). */
  binaryAttributes?: string[]
}

export interface RootDse {
  defaultNamingContext: string
  rootDomainNamingContext: string
  configurationNamingContext: string
  schemaNamingContext: string
  namingContexts: string[]
  dnsHostName: string
  ldapServiceName: string
  serverName: string
  supportedControl: string[]
  supportedSASLMechanisms: string[]
  supportedLDAPVersion: string[]
  domainFunctionality: number | undefined
  forestFunctionality: number | undefined
  domainControllerFunctionality: number | undefined
  isGlobalCatalogReady: boolean
}

/** Who holds an SPN: `spn` is the value found, which may be an alias form (HOST/x for HTTP/x). */
export interface SpnHolder {
  dn: string
  samAccountName: string
  spn: string
}

/** An entry read from the directory. Attribute names are matched case-insensitively. */
export class DirectoryEntry {
  readonly dn: string
  readonly #attributes = new Map<string, { name: string; values: Array<string | Buffer> }>()

  constructor(dn: string, attributes: Record<string, string | Buffer | Array<string | Buffer>>) {
    this.dn = dn
    for (const [name, raw] of Object.entries(attributes)) {
      const values = Array.isArray(raw) ? raw : [raw]
      this.#attributes.set(name.toLowerCase(), { name, values })
    }
  }

  /** The attribute names present, as the DC spelled them. */
  names(): string[] {
    return [...this.#attributes.values()].filter((a) => a.values.length > 0).map((a) => a.name)
  }

  has(name: string): boolean {
    return (this.#attributes.get(name.toLowerCase())?.values.length ?? 0) > 0
  }

  values(name: string): string[] {
    return (this.#attributes.get(name.toLowerCase())?.values ?? []).map((v) =>
      typeof v === 'string' ? v : v.toString('utf8'),
    )
  }

  value(name: string): string | undefined {
    return this.values(name)[0]
  }

  buffers(name: string): Buffer[] {
    return (this.#attributes.get(name.toLowerCase())?.values ?? []).map((v) =>
      typeof v === 'string' ? Buffer.from(v, 'utf8') : v,
    )
  }

  /**
   * Values returned under a ranged name (`member;range=0-1499`, MS-ADTS 3.1.1.3.1.3.3): AD sends
   * large multi-valued attributes in slices. `last` is undefined when this slice is the final one
   * (`range=1500-*`).
   */
  ranged(name: string): { values: string[]; first: number; last: number | undefined } | undefined {
    const prefix = `${name.toLowerCase()};range=`
    for (const [key, attribute] of this.#attributes) {
      if (!key.startsWith(prefix)) continue
      const m = /^(\d+)-(\d+|\*)$/.exec(key.slice(prefix.length))
      if (!m) continue
      return {
        values: attribute.values.map((v) => (typeof v === 'string' ? v : v.toString('utf8'))),
        first: Number(m[1]),
        last: m[2] === '*' ? undefined : Number(m[2]),
      }
    }
    return undefined
  }

  /** Names of the attributes that came as a range slice only (without the `;range=` part). */
  slicedNames(): string[] {
    const out: string[] = []
    for (const [key, attribute] of this.#attributes) {
      const m = /^(.*);range=\d+-(?:\d+|\*)$/.exec(key)
      if (m?.[1] && !this.has(m[1])) out.push(attribute.name.slice(0, m[1].length))
    }
    return out
  }

  /** @internal Replaces the slices of a ranged attribute by all its values (read by the directory). */
  completeSliced(name: string, values: string[]): void {
    const prefix = `${name.toLowerCase()};range=`
    for (const key of [...this.#attributes.keys()]) if (key.startsWith(prefix)) this.#attributes.delete(key)
    this.#attributes.set(name.toLowerCase(), { name, values })
  }

  /** The first value as an integer, or undefined when absent or not a number. */
  integer(name: string): number | undefined {
    const raw = this.value(name)
    if (raw === undefined || !/^-?\d+$/.test(raw.trim())) return undefined
    return Number(raw)
  }

  toJSON(): { dn: string; attributes: Record<string, string[]> } {
    const attributes: Record<string, string[]> = {}
    for (const { name, values } of this.#attributes.values()) {
      attributes[name] = values.map((v) => (typeof v === 'string' ? v : v.toString('base64')))
    }
    return { dn: this.dn, attributes }
  }
}

export interface Directory {
  /** The URL connected to. */
  readonly url: string
  /** True for LDAPS and StartTLS; password writes happen only then. */
  readonly encrypted: boolean
  /** The domain's naming context (defaultNamingContext of the root DSE), e.g. DC=corp,DC=example,DC=com. */
  readonly baseDn: string
  rootDse(): Promise<RootDse>
  search(base: string, filter: Filter, options?: SearchOptions): Promise<DirectoryEntry[]>
  /** The one entry that matches, undefined when none; `conflict` when several match. */
  findOne(
    base: string,
    filter: Filter,
    options?: Omit<SearchOptions, 'sizeLimit'>,
  ): Promise<DirectoryEntry | undefined>
  /** The entry at `dn` (scope base), undefined when it does not exist. */
  read(dn: string, attributes?: string[]): Promise<DirectoryEntry | undefined>
  add(dn: string, attributes: Record<string, AttributeValue | AttributeValue[]>): Promise<void>
  modify(dn: string, changes: Change | AttributeChange | Array<Change | AttributeChange>): Promise<void>
  delete(dn: string): Promise<void>
  exists(dn: string): Promise<boolean>
  /** Resets the password (unicodePwd replace); refused with insecure_connection unless encrypted. */
  setPassword(dn: string, password: string): Promise<void>
  /** msDS-KeyVersionNumber, the kvno of the account's current keys. */
  readKvno(dn: string): Promise<number>
  /** For each SPN, every account that holds it or an alias of it (HOST/ for HTTP/), searched case-insensitively. */
  findSpnHolders(spns: readonly string[], options?: { base?: string }): Promise<Map<string, SpnHolder[]>>
  getSpns(dn: string): Promise<string[]>
  /**
   * Every value of a multi-valued attribute, following AD's range retrieval when the DC slices it
   * (more than MaxValRange, 1500, values). `rangeSize` asks for slices of that size from the start.
   */
  readValues(dn: string, attribute: string, options?: { rangeSize?: number }): Promise<string[]>
  /** Adds and removes SPNs of one account in ONE modify (atomic on the DC). */
  modifySpns(dn: string, change: { add?: readonly string[]; remove?: readonly string[] }): Promise<void>
  /** Unbinds; further calls fail. */
  close(): Promise<void>
}

const defaultTimeoutMs = 10_000

/** Root DSE attributes read at connect time and by rootDse(). */
const rootDseAttributes = [
  'defaultNamingContext',
  'rootDomainNamingContext',
  'configurationNamingContext',
  'schemaNamingContext',
  'namingContexts',
  'dnsHostName',
  'ldapServiceName',
  'serverName',
  'supportedControl',
  'supportedSASLMechanisms',
  'supportedLDAPVersion',
  'domainFunctionality',
  'forestFunctionality',
  'domainControllerFunctionality',
  'isGlobalCatalogReady',
]

function invalidOption(field: string, rule: string): ValidationError {
  return new ValidationError([{ field, rule }], 'directory options')
}

interface Session {
  client: Client
  /** alive turns false once any socket of this session closed or failed: the next call opens a new session. */
  state: { alive: boolean }
  sockets: net.Socket[]
}

/**
 * Connects (LDAPS, or ldap:// + StartTLS), binds, and reads the root DSE. A lost connection is
 * noticed by the next call, which opens a new one; a call that was in flight fails `unavailable`.
 */
export async function connectDirectory(options: ConnectDirectoryOptions): Promise<Directory> {
  const directory = await LdapDirectory.create(options)
  return directory
}

class LdapDirectory implements Directory {
  readonly url: string
  readonly encrypted: boolean
  baseDn = ''
  readonly #options: ConnectDirectoryOptions
  readonly #tls: tls.ConnectionOptions | undefined
  readonly #timeoutMs: number
  readonly #logger: Logger | undefined
  readonly #ldaps: boolean
  #session: Session | undefined
  #opening: Promise<Session> | undefined
  #closed = false
  #spnMappings: SpnMappings | undefined
  #rootDse: RootDse | undefined

  private constructor(options: ConnectDirectoryOptions, tlsOptions: tls.ConnectionOptions | undefined) {
    this.#options = options
    this.url = options.url
    this.#tls = tlsOptions
    this.#ldaps = options.url.toLowerCase().startsWith('ldaps:')
    this.encrypted = tlsOptions !== undefined
    this.#timeoutMs = options.timeoutMs ?? defaultTimeoutMs
    this.#logger = options.logger?.child({ component: 'directory', url: options.url })
  }

  static async create(options: ConnectDirectoryOptions): Promise<LdapDirectory> {
    let url: URL
    try {
      url = new URL(options.url)
    } catch {
      throw invalidOption('url', 'must be an ldaps:// or ldap:// URL')
    }
    const scheme = url.protocol.replace(/:$/, '').toLowerCase()
    if (scheme !== 'ldap' && scheme !== 'ldaps')
      throw invalidOption('url', 'must be an ldaps:// or ldap:// URL')
    if (scheme === 'ldaps' && options.startTls) {
      throw invalidOption('startTls', 'applies to ldap:// only; ldaps:// is already TLS')
    }
    if (typeof options.bindDn !== 'string' || options.bindDn === '')
      throw invalidOption('bindDn', 'is required')
    parseDn(options.bindDn, 'bindDn')
    if (typeof options.password !== 'string' || options.password === '') {
      throw invalidOption('password', 'is required (anonymous binds are not used)')
    }
    if (options.timeoutMs !== undefined && !(Number.isInteger(options.timeoutMs) && options.timeoutMs > 0)) {
      throw invalidOption('timeoutMs', 'must be a positive integer')
    }
    const wantsTls = scheme === 'ldaps' || options.startTls === true
    if (!wantsTls && !options.allowInsecure) {
      throw invalidOption(
        'url',
        'ldap:// without StartTLS is not encrypted: use ldaps://, set startTls: true, or allowInsecure: true for read-only use',
      )
    }
    let tlsOptions: tls.ConnectionOptions | undefined
    if (wantsTls) {
      let ca = options.ca
      if (ca === undefined && options.caFile !== undefined) {
        try {
          ca = await readFile(options.caFile)
        } catch (err) {
          throw invalidOption('caFile', `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
        }
      }
      if (ca === undefined || ca.length === 0) {
        throw invalidOption('ca', 'a CA certificate (ca or caFile) is required to verify the DC over TLS')
      }
      const host = url.hostname.replace(/^\[|\]$/g, '')
      const servername = options.servername ?? (isIP(host) ? undefined : host)
      if (servername === undefined) {
        throw invalidOption('servername', 'is required when the URL names the DC by IP address')
      }
      tlsOptions = { ca, servername, minVersion: 'TLSv1.2', rejectUnauthorized: true }
    }
    const directory = new LdapDirectory(options, tlsOptions)
    const rootDse = await directory.rootDse()
    if (!rootDse.defaultNamingContext) {
      await directory.close()
      throw new KrbfleetError(
        ErrorCode.Internal,
        `the DC at ${options.url} publishes no defaultNamingContext`,
      )
    }
    directory.baseDn = rootDse.defaultNamingContext
    return directory
  }

  /** A bound session, opening one when there is none or the last one lost its connection. */
  async #client(): Promise<Client> {
    if (this.#closed) {
      throw new KrbfleetError(ErrorCode.Unavailable, `the directory connection to ${this.url} is closed`, {
        retryable: false,
      })
    }
    const session = this.#session
    if (session?.state.alive && session.client.isBound) return session.client
    if (session) {
      this.#logger?.warn('LDAP connection lost; reconnecting')
      this.#discard(session)
    }
    this.#opening ??= this.#open().finally(() => {
      this.#opening = undefined
    })
    return (await this.#opening).client
  }

  async #open(): Promise<Session> {
    const { url, startTls, bindDn, password } = this.#options
    const state = { alive: true }
    const sockets: net.Socket[] = []
    const watch = <S extends net.Socket>(socket: S): S => {
      sockets.push(socket)
      const dead = () => {
        state.alive = false
      }
      // \`on\`, not \`once\`: a socket that errors twice must never find no 'error' listener.
      socket.on('close', dead)
      socket.on('end', dead)
      socket.on('error', dead)
      return socket
    }
    // ldapts reconnects on its own when a socket closed, but in clear and without StartTLS or
    // bind. Each session therefore allows exactly one plain and one TLS socket; a second attempt
    // fails and the next call of ours opens a fresh, upgraded and bound session.
    let plainSockets = 0
    let tlsSockets = 0
    const createConnection = ((port: number, host: string) => {
      if (plainSockets++ > 0) throw new Error('connection closed; not reconnecting inside a session')
      return watch(net.connect(port, host))
    }) as typeof net.connect
    // ldapts calls this with (port, host, options) for ldaps:// and with (options) for StartTLS.
    const createSecureConnection = ((...args: unknown[]) => {
      if (tlsSockets++ > 0) throw new Error('connection closed; not reconnecting inside a session')
      const socket =
        typeof args[0] === 'number'
          ? tls.connect(args[0], args[1] as string, args[2] as tls.ConnectionOptions)
          : tls.connect(args[0] as tls.ConnectionOptions)
      return watch(socket)
    }) as typeof tls.connect
    const client = new Client({
      url,
      timeout: this.#timeoutMs,
      connectTimeout: this.#timeoutMs,
      createConnection,
      createSecureConnection,
      ...(this.#ldaps ? { tlsOptions: this.#tls } : {}),
    })
    const session: Session = { client, state, sockets }
    try {
      if (startTls) await client.startTLS({ ...this.#tls })
      await client.bind(bindDn, password)
    } catch (err) {
      state.alive = false
      for (const socket of sockets) socket.destroy()
      throw mapLdapError(err, {
        operation: startTls ? 'StartTLS and bind as' : 'bind as',
        dn: bindDn,
        secrets: [password],
      })
    }
    this.#session = session
    this.#logger?.info({ encrypted: this.encrypted, startTls: !!startTls }, 'LDAP connection bound')
    return session
  }

  /**
   * Drops a session whose connection failed. No unbind: after StartTLS ldapts may still think a
   * dead connection is up, and an unbind written to it would wait for the operation timeout.
   */
  #discard(session: Session): void {
    session.state.alive = false
    if (this.#session === session) this.#session = undefined
    for (const socket of session.sockets) socket.destroy()
  }

  /** Runs one LDAP operation and maps its failure; a lost connection drops the session. */
  async #run<T>(
    operation: string,
    dn: string | undefined,
    work: (client: Client) => Promise<T>,
    secrets?: string[],
  ): Promise<T> {
    const started = performance.now()
    const client = await this.#client()
    try {
      const result = await work(client)
      this.#logger?.debug({ operation, dn, ms: Math.round(performance.now() - started) }, 'LDAP operation')
      return result
    } catch (err) {
      const context = { operation, ...(dn === undefined ? {} : { dn }), ...(secrets ? { secrets } : {}) }
      const mapped = mapLdapError(err, context)
      if (mapped.code === ErrorCode.Unavailable || mapped.code === ErrorCode.Timeout) {
        const session = this.#session
        if (session && session.client === client) this.#discard(session)
      }
      this.#logger?.debug(
        { operation, dn, code: mapped.code, ldapCode: mapped.details?.ldapCode },
        'LDAP operation failed',
      )
      throw mapped
    }
  }

  #refuseUnlessEncrypted(what: string, dn: string): void {
    if (!this.encrypted) {
      throw new KrbfleetError(
        ErrorCode.InsecureConnection,
        `refusing to ${what} of ${dn}: the connection to ${this.url} is not encrypted (use ldaps:// or StartTLS)`,
        { retryable: false, details: { dn } },
      )
    }
  }

  async rootDse(): Promise<RootDse> {
    const result = await this.#run('read root DSE', undefined, (c) =>
      c.search('', { scope: 'base', filter: toLdaptsFilter(filter.any()), attributes: rootDseAttributes }),
    )
    const raw = result.searchEntries[0]
    if (!raw) throw new KrbfleetError(ErrorCode.Unavailable, `the DC at ${this.url} returned no root DSE`)
    const e = toEntry(raw)
    const dse: RootDse = {
      defaultNamingContext: e.value('defaultNamingContext') ?? '',
      rootDomainNamingContext: e.value('rootDomainNamingContext') ?? '',
      configurationNamingContext: e.value('configurationNamingContext') ?? '',
      schemaNamingContext: e.value('schemaNamingContext') ?? '',
      namingContexts: e.values('namingContexts'),
      dnsHostName: e.value('dnsHostName') ?? '',
      ldapServiceName: e.value('ldapServiceName') ?? '',
      serverName: e.value('serverName') ?? '',
      supportedControl: e.values('supportedControl'),
      supportedSASLMechanisms: e.values('supportedSASLMechanisms'),
      supportedLDAPVersion: e.values('supportedLDAPVersion'),
      domainFunctionality: e.integer('domainFunctionality'),
      forestFunctionality: e.integer('forestFunctionality'),
      domainControllerFunctionality: e.integer('domainControllerFunctionality'),
      isGlobalCatalogReady: (e.value('isGlobalCatalogReady') ?? '').toUpperCase() === 'TRUE',
    }
    this.#rootDse = dse
    return dse
  }

  async search(base: string, f: Filter, options: SearchOptions = {}): Promise<DirectoryEntry[]> {
    const entries = await this.#search(base, f, options)
    // AD sends attributes with more than MaxValRange (1500) values in slices (MS-ADTS
    // 3.1.1.3.1.3.3): fetch the rest so that callers always see every value.
    // A slice the caller asked for by name stays as asked.
    const asked = new Set(
      (options.attributes ?? []).filter((a) => /;range=/i.test(a)).map((a) => a.split(';')[0]?.toLowerCase()),
    )
    for (const entry of entries) {
      for (const name of entry.slicedNames()) {
        if (!asked.has(name.toLowerCase())) entry.completeSliced(name, await this.readValues(entry.dn, name))
      }
    }
    return entries
  }

  async #search(base: string, f: Filter, options: SearchOptions): Promise<DirectoryEntry[]> {
    parseDn(base, 'base')
    const attributes = options.attributes?.map((a, i) => checkAttributeName(a, `attributes.${i}`))
    const binary = options.binaryAttributes?.map((a, i) => checkAttributeName(a, `binaryAttributes.${i}`))
    if (options.sizeLimit !== undefined && !(Number.isInteger(options.sizeLimit) && options.sizeLimit >= 0)) {
      throw new ValidationError([{ field: 'sizeLimit', rule: 'must be a non-negative integer' }], 'search')
    }
    const ldapFilter = toLdaptsFilter(f)
    const result = await this.#run('search', base, (c) =>
      c.search(base, {
        scope: options.scope ?? 'sub',
        filter: ldapFilter,
        ...(attributes ? { attributes } : {}),
        ...(binary ? { explicitBufferAttributes: binary } : {}),
        ...(options.sizeLimit !== undefined ? { sizeLimit: options.sizeLimit } : {}),
        ...(options.paged !== undefined ? { paged: options.paged } : {}),
      }),
    )
    return result.searchEntries.map(toEntry)
  }

  async findOne(
    base: string,
    f: Filter,
    options: Omit<SearchOptions, 'sizeLimit'> = {},
  ): Promise<DirectoryEntry | undefined> {
    const entries = await this.search(base, f, { ...options, sizeLimit: 2 })
    if (entries.length > 1) {
      throw new KrbfleetError(ErrorCode.Conflict, `more than one entry under ${base} matches the search`, {
        details: { base, dns: entries.map((e) => e.dn) },
      })
    }
    return entries[0]
  }

  async read(dn: string, attributes?: string[]): Promise<DirectoryEntry | undefined> {
    return await this.#read(dn, attributes, true)
  }

  async #read(
    dn: string,
    attributes: string[] | undefined,
    completeSlices: boolean,
  ): Promise<DirectoryEntry | undefined> {
    try {
      const options: SearchOptions = { scope: 'base', ...(attributes ? { attributes } : {}) }
      const entries = completeSlices
        ? await this.search(dn, filter.any(), options)
        : await this.#search(dn, filter.any(), options)
      return entries[0]
    } catch (err) {
      if (err instanceof KrbfleetError && err.code === ErrorCode.NotFound) return undefined
      throw err
    }
  }

  async exists(dn: string): Promise<boolean> {
    return (await this.read(dn, ['1.1'])) !== undefined
  }

  async add(dn: string, attributes: Record<string, AttributeValue | AttributeValue[]>): Promise<void> {
    parseDn(dn)
    const list: Attribute[] = []
    for (const [name, raw] of Object.entries(attributes)) {
      checkAttributeName(name, `attributes.${name}`)
      if (passwordAttributes.has(name.toLowerCase())) this.#refuseUnlessEncrypted('write a password', dn)
      list.push(toAttribute(name, Array.isArray(raw) ? raw : [raw], `attributes.${name}`))
    }
    if (list.length === 0)
      throw new ValidationError([{ field: 'attributes', rule: 'must not be empty' }], 'add')
    await this.#run('add', dn, (c) => c.add(dn, list))
  }

  async modify(
    dn: string,
    changes: Change | AttributeChange | Array<Change | AttributeChange>,
  ): Promise<void> {
    parseDn(dn)
    const list = (Array.isArray(changes) ? changes : [changes]).map((change, i) =>
      toChange(change, `changes.${i}`),
    )
    if (list.length === 0) return
    for (const change of list) {
      if (passwordAttributes.has(change.modification.type.toLowerCase())) {
        this.#refuseUnlessEncrypted('write a password', dn)
      }
    }
    await this.#run('modify', dn, (c) => c.modify(dn, list))
  }

  async delete(dn: string): Promise<void> {
    parseDn(dn)
    await this.#run('delete', dn, (c) => c.del(dn))
  }

  async setPassword(dn: string, password: string): Promise<void> {
    // Checked before anything else, so nothing at all reaches an unencrypted connection.
    this.#refuseUnlessEncrypted('set the password', dn)
    parseDn(dn)
    const value = encodeUnicodePwd(password)
    const change = new Change({
      operation: 'replace',
      modification: new Attribute({ type: 'unicodePwd', values: [value] }),
    })
    await this.#run('set password of', dn, (c) => c.modify(dn, change), [password])
  }

  async readKvno(dn: string): Promise<number> {
    // Constructed attribute (MS-ADTS 3.1.1.4.5.x): returned only when asked for by name.
    const entry = await this.read(dn, ['msDS-KeyVersionNumber'])
    if (!entry)
      throw new KrbfleetError(ErrorCode.NotFound, `LDAP read kvno of ${dn}: no such entry`, {
        details: { dn },
      })
    const kvno = entry.integer('msDS-KeyVersionNumber')
    if (kvno === undefined) {
      throw new KrbfleetError(
        ErrorCode.NotFound,
        `${dn} has no msDS-KeyVersionNumber (not an account with keys)`,
        {
          details: { dn },
        },
      )
    }
    return kvno
  }

  async getSpns(dn: string): Promise<string[]> {
    return await this.readValues(dn, 'servicePrincipalName')
  }

  async readValues(dn: string, attribute: string, options: { rangeSize?: number } = {}): Promise<string[]> {
    checkAttributeName(attribute)
    const size = options.rangeSize
    if (size !== undefined && !(Number.isInteger(size) && size > 0)) {
      throw new ValidationError([{ field: 'rangeSize', rule: 'must be a positive integer' }], 'read')
    }
    const values: string[] = []
    let next = 0
    let ask = size === undefined ? attribute : `${attribute};range=0-${size - 1}`
    for (;;) {
      const entry = await this.#read(dn, [ask], false)
      if (!entry)
        throw new KrbfleetError(ErrorCode.NotFound, `LDAP read ${attribute} of ${dn}: no such entry`, {
          details: { dn },
        })
      const slice = entry.ranged(attribute)
      if (!slice) {
        // Not sliced: everything came at once (or, past the first slice, nothing more is left).
        if (next === 0) return entry.values(attribute)
        return values
      }
      values.push(...slice.values)
      if (slice.last === undefined) return values
      next = slice.last + 1
      ask =
        size === undefined ? `${attribute};range=${next}-*` : `${attribute};range=${next}-${next + size - 1}`
    }
  }

  async modifySpns(
    dn: string,
    change: { add?: readonly string[]; remove?: readonly string[] },
  ): Promise<void> {
    parseDn(dn)
    const add = uniqueSpns(change.add ?? [], 'add')
    const remove = uniqueSpns(change.remove ?? [], 'remove')
    const removing = new Set(remove.map((s) => s.toLowerCase()))
    const both = add.find((s) => removing.has(s.toLowerCase()))
    if (both !== undefined) {
      throw new ValidationError([{ field: 'add', rule: `${both} is also in remove` }], 'SPN change')
    }
    const changes: Change[] = []
    if (add.length > 0) {
      changes.push(
        new Change({
          operation: 'add',
          modification: new Attribute({ type: 'servicePrincipalName', values: add }),
        }),
      )
    }
    if (remove.length > 0) {
      changes.push(
        new Change({
          operation: 'delete',
          modification: new Attribute({ type: 'servicePrincipalName', values: remove }),
        }),
      )
    }
    if (changes.length === 0) return
    try {
      await this.#run('modify SPNs of', dn, (c) => c.modify(dn, changes))
    } catch (err) {
      throw await this.#explainSpnFailure(dn, add, err)
    }
  }

  /**
   * Turns a refused SPN add into a SpnConflictError that names the SPN and its holder. Samba
   * names the SPN for a direct duplicate (0000202F) but answers a bare constraint violation for
   * an alias collision (HOST/x held elsewhere blocks HTTP/x), so the holders are looked up.
   */
  async #explainSpnFailure(dn: string, add: string[], err: unknown): Promise<unknown> {
    const refused =
      err instanceof SpnConflictError ||
      (err instanceof KrbfleetError && err.code === ErrorCode.RuleViolation && err.details?.ldapCode === 19)
    if (!refused || add.length === 0) return err
    const known = err instanceof SpnConflictError ? err.spn?.toLowerCase() : undefined
    let holders: Map<string, SpnHolder[]>
    try {
      holders = await this.findSpnHolders(known ? add.filter((s) => s.toLowerCase() === known) : add)
    } catch {
      return err
    }
    const self = normalizeDn(dn)
    for (const [spn, list] of holders) {
      const holder = list.find((h) => normalizeDn(h.dn) !== self)
      if (!holder) continue
      return new SpnConflictError(
        spn,
        `LDAP modify SPNs of ${dn}: ${spn} conflicts with ${holder.spn} held by ${holder.samAccountName || holder.dn}`,
        { cause: err, details: { ...(err as KrbfleetError).details, spn, holder } },
      )
    }
    if (err instanceof SpnConflictError && err.spn === undefined && add.length === 1) {
      return new SpnConflictError(add[0], err.message, { cause: err.cause, details: err.details ?? {} })
    }
    return err
  }

  async #mappings(): Promise<SpnMappings> {
    if (this.#spnMappings) return this.#spnMappings
    const config = (this.#rootDse ?? (await this.rootDse())).configurationNamingContext
    let mappings = defaultSpnMappings
    if (config) {
      const entry = await this.read(`CN=Directory Service,CN=Windows NT,CN=Services,${config}`, [
        'sPNMappings',
      ])
      const values = entry?.values('sPNMappings') ?? []
      if (values.length > 0) mappings = parseSpnMappings(values)
    }
    this.#spnMappings = mappings
    return mappings
  }

  async findSpnHolders(
    spns: readonly string[],
    options: { base?: string } = {},
  ): Promise<Map<string, SpnHolder[]>> {
    spns.forEach((spn, i) => {
      parseSpn(spn, `spns.${i}`)
    })
    const result = new Map<string, SpnHolder[]>()
    if (spns.length === 0) return result
    const mappings = await this.#mappings()
    // lower-cased candidate -> the requested SPNs it conflicts with
    const wantedBy = new Map<string, Set<string>>()
    for (const spn of spns) {
      result.set(spn, [])
      for (const candidate of spnConflictCandidates(spn, mappings)) {
        const key = candidate.toLowerCase()
        const set = wantedBy.get(key) ?? new Set<string>()
        set.add(spn)
        wantedBy.set(key, set)
      }
    }
    const base = options.base ?? this.baseDn
    const candidates = [...wantedBy.keys()]
    const seen = new Set<string>()
    // Chunks keep each filter well under the DC's MaxQueryDuration and request size limits.
    for (let i = 0; i < candidates.length; i += 100) {
      const chunk = candidates.slice(i, i + 100)
      const entries = await this.search(
        base,
        filter.or(...chunk.map((c) => filter.eq('servicePrincipalName', c))),
        {
          attributes: ['sAMAccountName', 'servicePrincipalName'],
          paged: true,
        },
      )
      for (const entry of entries) {
        const samAccountName = entry.value('sAMAccountName') ?? ''
        for (const value of entry.values('servicePrincipalName')) {
          for (const spn of wantedBy.get(value.toLowerCase()) ?? []) {
            const key = `${spn}\u0000${entry.dn.toLowerCase()}\u0000${value.toLowerCase()}`
            if (seen.has(key)) continue
            seen.add(key)
            result.get(spn)?.push({ dn: entry.dn, samAccountName, spn: value })
          }
        }
      }
    }
    return result
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const session = this.#session ?? (await this.#opening?.catch(() => undefined))
    this.#session = undefined
    if (!session) return
    if (session.state.alive) {
      // A polite unbind (RFC 4511 4.3), but never waiting long for a DC that does not answer.
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        session.client.unbind().catch(() => {}),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, 1000)
        }),
      ])
      clearTimeout(timer)
    }
    session.state.alive = false
    for (const socket of session.sockets) socket.destroy()
    this.#logger?.debug('LDAP connection closed')
  }
}

function uniqueSpns(spns: readonly string[], field: string): string[] {
  if (!Array.isArray(spns))
    throw new ValidationError([{ field, rule: 'must be a list of SPNs' }], 'SPN change')
  const seen = new Set<string>()
  const out: string[] = []
  spns.forEach((spn, i) => {
    parseSpn(spn, `${field}.${i}`)
    if (seen.has(spn.toLowerCase())) return
    seen.add(spn.toLowerCase())
    out.push(spn)
  })
  return out
}

function toEntry(raw: Entry): DirectoryEntry {
  const { dn, ...attributes } = raw
  return new DirectoryEntry(dn, attributes as Record<string, string | Buffer | Array<string | Buffer>>)
}

function toAttribute(name: string, values: AttributeValue[], field: string): Attribute {
  values.forEach((v, i) => {
    if (typeof v === 'number' ? !Number.isFinite(v) : typeof v !== 'string' && !(v instanceof Uint8Array)) {
      throw new ValidationError(
        [{ field: `${field}.${i}`, rule: 'must be a string, a number or bytes' }],
        'attribute',
      )
    }
  })
  const binary = values.some((v) => v instanceof Uint8Array)
  return new Attribute({
    type: name,
    values: binary
      ? values.map((v) => (v instanceof Uint8Array ? Buffer.from(v) : Buffer.from(String(v), 'utf8')))
      : values.map((v) => String(v)),
  })
}

function toChange(change: Change | AttributeChange, field: string): Change {
  if (change instanceof Change) {
    checkAttributeName(change.modification.type, `${field}.attribute`)
    return change
  }
  if (!change || !['add', 'delete', 'replace'].includes(change.operation)) {
    throw new ValidationError(
      [{ field: `${field}.operation`, rule: 'must be add, delete or replace' }],
      'change',
    )
  }
  checkAttributeName(change.attribute, `${field}.attribute`)
  if (!Array.isArray(change.values)) {
    throw new ValidationError([{ field: `${field}.values`, rule: 'must be a list' }], 'change')
  }
  return new Change({
    operation: change.operation,
    modification: toAttribute(change.attribute, change.values, `${field}.values`),
  })
}
