import type { Entry } from 'ldapts'

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

/** A search result of ldapts as a DirectoryEntry. */
export function toEntry(raw: Entry): DirectoryEntry {
  const { dn, ...attributes } = raw
  return new DirectoryEntry(dn, attributes as Record<string, string | Buffer | Array<string | Buffer>>)
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

/** The root DSE attributes a RootDse holds: they must be asked for by name (some are operational). */
export const rootDseAttributes = [
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

/** The root DSE entry as typed fields: absent text is '', absent numbers undefined. */
export function decodeRootDse(e: DirectoryEntry): RootDse {
  return {
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
}
