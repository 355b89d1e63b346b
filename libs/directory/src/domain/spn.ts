import { ValidationError } from '@krbfleet/contracts'

/**
 * Service principal names as Active Directory stores them in servicePrincipalName:
 * `serviceclass/host[:port][/servicename]` (MS-ADTS 2.2.21, "SPN format").
 */
export interface SpnParts {
  serviceClass: string
  host: string
  port?: number
  serviceName?: string
}

// serviceclass "/" host [":" port] ["/" servicename] (MS-ADTS 2.2.21, RFC 4120 section 6.2): the
// service class and host in the characters of DNS names and NetBIOS service names, the service
// name any run of characters without a space or slash (GC/dc1/corp.example.com).
const spnShape =
  /^([A-Za-z0-9][A-Za-z0-9._-]{0,63})\/([A-Za-z0-9._-]{1,253})(?::(\d{1,5}))?(?:\/([^\s/]{1,253}))?$/
// Longer input is refused before the pattern runs; no real SPN comes near it.
const maxSpnLength = 512

/**
 * Checks that `spn` is a service principal name and returns its parts as written (AD compares
 * SPNs case-insensitively; canonical spelling is the caller's business). Nothing is trimmed: a
 * value with a space, a control character or a stray newline is refused, never written. A bad
 * value throws a ValidationError (`invalid`) naming `field`.
 */
export function parseSpn(spn: string, field = 'spn'): SpnParts {
  const m = typeof spn === 'string' && spn.length <= maxSpnLength ? spnShape.exec(spn) : null
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we refuse
  if (!m || /[\u0000-\u001f\u007f]/.test(spn)) {
    throw new ValidationError(
      [
        {
          field,
          rule: 'must look like serviceclass/host[:port][/servicename] without spaces (for example HTTP/pool01.corp.example.com)',
        },
      ],
      `SPN ${JSON.stringify(spn)}`,
    )
  }
  const parts: SpnParts = { serviceClass: m[1] as string, host: m[2] as string }
  if (m[3] !== undefined) {
    const port = Number(m[3])
    if (port < 1 || port > 65535) {
      throw new ValidationError([{ field, rule: 'port must be 1-65535' }], `SPN ${JSON.stringify(spn)}`)
    }
    parts.port = port
  }
  if (m[4] !== undefined) parts.serviceName = m[4]
  return parts
}

/**
 * Service classes that Active Directory treats as aliases of another: the sPNMappings attribute of
 * CN=Directory Service,CN=Windows NT,CN=Services,<configuration NC> (MS-ADTS 6.1.1.2.4.1.2). A
 * holder of HOST/x also answers for HTTP/x, so the DC refuses HTTP/x on a second account while
 * HOST/x exists (Samba does the same: see the lab notes). Keys and values are lower case.
 */
export type SpnMappings = ReadonlyMap<string, readonly string[]>

/** The default sPNMappings value of a new forest. */
export const defaultSpnMappingValues: readonly string[] = [
  'host=alerter,appmgmt,cisvc,clipsrv,browser,dhcp,dnscache,replicator,eventlog,eventsystem,policyagent,' +
    'oakley,dmserver,dns,mcsvc,fax,msiserver,ias,messenger,netlogon,netman,netdde,netddedsm,nmagent,' +
    'plugplay,protectedstorage,rasman,rpclocator,rpc,rpcss,remoteaccess,rsvp,samss,scardsvr,scesrv,' +
    'seclogon,scm,dcom,cifs,spooler,snmp,schedule,tapisrv,trksvr,trkwks,ups,time,wins,www,http,w3svc,' +
    'iisadmin,msdtc',
]

/** Parses sPNMappings values (`host=alerter,http,...`) into target class -> alias classes. */
export function parseSpnMappings(values: readonly string[]): SpnMappings {
  const mappings = new Map<string, string[]>()
  for (const value of values) {
    const eq = value.indexOf('=')
    if (eq <= 0) continue
    const target = value.slice(0, eq).trim().toLowerCase()
    const aliases = value
      .slice(eq + 1)
      .split(',')
      .map((a) => a.trim().toLowerCase())
      .filter((a) => a !== '' && a !== target)
    mappings.set(target, [...(mappings.get(target) ?? []), ...aliases])
  }
  return mappings
}

export const defaultSpnMappings: SpnMappings = parseSpnMappings(defaultSpnMappingValues)

/**
 * Every SPN whose presence on another account makes the DC refuse `spn` (or makes the KDC's
 * answer ambiguous): the SPN itself plus its alias forms. HTTP/x -> [HTTP/x, HOST/x];
 * HOST/x -> [HOST/x, alerter/x, ..., http/x, ...]. Comparison in AD is case-insensitive; the
 * returned forms are for searching, the caller compares lower-cased.
 */
export function spnConflictCandidates(spn: string, mappings: SpnMappings = defaultSpnMappings): string[] {
  parseSpn(spn)
  const slash = spn.indexOf('/')
  const serviceClass = spn.slice(0, slash).toLowerCase()
  const rest = spn.slice(slash) // "/host[:port][/name]"
  const out = [spn]
  const seen = new Set([spn.toLowerCase()])
  const push = (cls: string) => {
    const candidate = `${cls}${rest}`
    if (seen.has(candidate.toLowerCase())) return
    seen.add(candidate.toLowerCase())
    out.push(candidate)
  }
  for (const [target, aliases] of mappings) {
    if (aliases.includes(serviceClass)) push(target.toUpperCase())
    if (target === serviceClass) for (const alias of aliases) push(alias.toUpperCase())
  }
  return out
}
