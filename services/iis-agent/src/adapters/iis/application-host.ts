/**
 * What the file adapter changes in applicationHost.config, as edits of the original text (no I/O).
 * Pools: configuration/system.applicationHost/applicationPools/add[@name]/processModel.
 * Sites: configuration/location[@path=site]/system.webServer/security/authentication/windowsAuthentication,
 * the place IIS Manager and `appcmd set config "Site" /commit:apphost` write it; the site itself
 * must exist in system.applicationHost/sites.
 */
import {
  IisConfigError,
  IisFailure,
  type IisIdentity,
  type IisState,
  type IisTarget,
  sameIisName,
} from './configurator.ts'
import type { PasswordProtector } from './password-protector.ts'
import {
  appendChildren,
  attributeOf,
  childrenNamed,
  type NewElement,
  setAttributes,
  type TextEdit,
} from './xml-edit.ts'
import type { XmlDocument, XmlElement } from './xml-scan.ts'

const AUTH_PATH = ['system.webServer', 'security', 'authentication', 'windowsAuthentication'] as const

/** Edits that make the pools run as `identity` and the sites use the pool credentials; none when already so. */
export async function planApply(
  doc: XmlDocument,
  target: IisTarget,
  identity: IisIdentity,
  protector: PasswordProtector,
  source: string,
): Promise<TextEdit[]> {
  const { pools, sites } = locate(doc, target, source)
  const edits: TextEdit[] = []
  const inserts = new Map<XmlElement, NewElement[]>()
  for (const { pool, processModel } of pools) {
    if (!processModel) {
      const password = await protector.protect(identity.password)
      const attributes = [
        ['identityType', 'SpecificUser'],
        ['userName', identity.userName],
        ['password', password],
      ] as const
      addInsert(inserts, pool, { name: 'processModel', attributes })
      continue
    }
    const stored = attributeOf(processModel, 'password')?.value
    const password =
      stored !== undefined && (await holds(protector, stored, identity.password))
        ? stored
        : await protector.protect(identity.password)
    edits.push(
      ...setAttributes(doc, processModel, [
        ['identityType', 'SpecificUser'],
        ['userName', identity.userName],
        ['password', password],
      ]),
    )
  }
  for (const site of sites) {
    if (site.auth) {
      edits.push(
        ...setAttributes(doc, site.auth, [
          ['enabled', 'true'],
          ['useAppPoolCredentials', 'true'],
        ]),
      )
      continue
    }
    // Build what is missing below the deepest element that exists (or a new <location>).
    const names = AUTH_PATH.slice(site.depth)
    let element: NewElement = {
      name: 'windowsAuthentication',
      attributes: [
        ['enabled', 'true'],
        ['useAppPoolCredentials', 'true'],
      ],
    }
    for (const name of names.slice(0, -1).reverse()) element = { name, attributes: [], children: [element] }
    if (!site.location) element = { name: 'location', attributes: [['path', site.name]], children: [element] }
    addInsert(inserts, site.deepest, element)
  }
  for (const [parent, children] of inserts) edits.push(appendChildren(doc, parent, children))
  return edits
}

/**
 * Edits that take `userName` away: its pools go back to ApplicationPoolIdentity without userName and
 * password; useAppPoolCredentials is removed from the sites (schema default false). Pools running as
 * someone else and the enabled flag are left as they are.
 */
export function planClear(doc: XmlDocument, target: IisTarget, userName: string, source: string): TextEdit[] {
  const { pools, sites } = locate(doc, target, source)
  const edits: TextEdit[] = []
  for (const { processModel } of pools) {
    if (!processModel) continue
    const runsAs = attributeOf(processModel, 'userName')?.value
    if (runsAs === undefined || !sameIisName(runsAs, userName)) continue
    edits.push(
      ...setAttributes(doc, processModel, [
        ['identityType', 'ApplicationPoolIdentity'],
        ['userName', undefined],
        ['password', undefined],
      ]),
    )
  }
  for (const site of sites) {
    if (site.auth) edits.push(...setAttributes(doc, site.auth, [['useAppPoolCredentials', undefined]]))
  }
  return edits
}

export function readIisState(doc: XmlDocument, target: IisTarget, source: string): IisState {
  const { pools, sites } = locate(doc, target, source)
  return {
    pools: pools.map(({ name, processModel }) => ({
      name,
      identityType: processModel && attributeOf(processModel, 'identityType')?.value,
      userName: processModel && attributeOf(processModel, 'userName')?.value,
      hasPassword: Boolean(processModel && attributeOf(processModel, 'password')?.value),
    })),
    sites: sites.map(({ name, auth }) => ({
      name,
      enabled: auth && bool(attributeOf(auth, 'enabled')?.value),
      useAppPoolCredentials: auth && bool(attributeOf(auth, 'useAppPoolCredentials')?.value),
    })),
  }
}

interface LocatedPool {
  name: string
  pool: XmlElement
  processModel: XmlElement | undefined
}

interface LocatedSite {
  name: string
  /** The windowsAuthentication element of the site's location, when there is one. */
  auth: XmlElement | undefined
  /** Otherwise: the deepest element of the path that exists, and how many path steps it covers. */
  deepest: XmlElement
  depth: number
  location: XmlElement | undefined
}

/** Finds every configured pool and site; one error names all that are missing. */
function locate(doc: XmlDocument, target: IisTarget, source: string) {
  const root = doc.root
  if (root.name !== 'configuration') {
    throw new IisConfigError(
      IisFailure.Malformed,
      `${source}: the root element is <${root.name}>, not <configuration>`,
    )
  }
  const host = only(childrenNamed(root, 'system.applicationHost'), 'system.applicationHost', source)
  const poolList = host && only(childrenNamed(host, 'applicationPools'), 'applicationPools', source)
  const siteList = host && only(childrenNamed(host, 'sites'), 'sites', source)
  const missing: string[] = []
  const pools: LocatedPool[] = []
  for (const name of unique(target.pools)) {
    const pool = poolList && only(named(poolList, 'add', 'name', name), `application pool '${name}'`, source)
    if (!pool) {
      missing.push(`application pool '${name}'`)
      continue
    }
    const processModel = only(childrenNamed(pool, 'processModel'), `processModel of pool '${name}'`, source)
    pools.push({ name, pool, processModel })
  }
  const sites: LocatedSite[] = []
  for (const name of unique(target.sites)) {
    if (!(siteList && only(named(siteList, 'site', 'name', name), `site '${name}'`, source))) {
      missing.push(`site '${name}'`)
      continue
    }
    sites.push(locateAuth(root, name, source))
  }
  if (missing.length > 0) {
    throw new IisConfigError(
      IisFailure.Missing,
      `${source}: ${missing.join(', ')} not found (check the agent's iis settings)`,
    )
  }
  return { pools, sites }
}

function locateAuth(root: XmlElement, name: string, source: string): LocatedSite {
  const found: LocatedSite[] = named(root, 'location', 'path', name).map((location) => {
    let deepest = location
    let depth = 0
    for (const step of AUTH_PATH) {
      const next = only(childrenNamed(deepest, step), `${step} in <location path="${name}">`, source)
      if (!next) break
      deepest = next
      depth++
    }
    const complete = depth === AUTH_PATH.length
    return { name, auth: complete ? deepest : undefined, deepest, depth, location }
  })
  const complete = found.filter((f) => f.auth)
  if (complete.length > 1) {
    throw new IisConfigError(
      IisFailure.Ambiguous,
      `${source}: windowsAuthentication of site '${name}' is set in ${complete.length} <location> elements`,
    )
  }
  const best = complete[0] ?? found.sort((a, b) => b.depth - a.depth)[0]
  return best ?? { name, auth: undefined, deepest: root, depth: 0, location: undefined }
}

function named(parent: XmlElement, element: string, key: string, value: string): XmlElement[] {
  return childrenNamed(parent, element).filter((c) => {
    const v = attributeOf(c, key)?.value
    return v !== undefined && sameIisName(v, value)
  })
}

function only(elements: XmlElement[], what: string, source: string): XmlElement | undefined {
  if (elements.length > 1)
    throw new IisConfigError(IisFailure.Ambiguous, `${source}: ${what} appears ${elements.length} times`)
  return elements[0]
}

function unique(names: readonly string[]): string[] {
  return names.filter((n, i) => names.findIndex((m) => sameIisName(m, n)) === i)
}

function addInsert(inserts: Map<XmlElement, NewElement[]>, parent: XmlElement, child: NewElement): void {
  inserts.set(parent, [...(inserts.get(parent) ?? []), child])
}

async function holds(protector: PasswordProtector, stored: string, password: string): Promise<boolean> {
  try {
    return (await protector.unprotect(stored)) === password
  } catch {
    return false // unreadable (another key, altered): replaced by a value that is readable
  }
}

function bool(value: string | undefined): boolean | undefined {
  return value === undefined ? undefined : value.toLowerCase() === 'true'
}
