/**
 * A JSON-safe form of one kvno's keys, for the sealed credential the account service sends to
 * each agent: the service derives the keys once per rotation and the agent turns them back into
 * keytab entries without knowing the salt rules. The key bytes are base64; the whole object is
 * a secret and only ever travels sealed (@krbfleet/sealing).
 */
import { ValidationError, type ValidationIssue } from '@krbfleet/contracts'
import { formatPrincipal, type KeytabEntry, NameType, parsePrincipal, samePrincipal } from './keytab.ts'
import { isEncType, keyLength } from './string-to-key.ts'

export interface PortableAccountKeys {
  /** `KERBAUTH$@CORP.EXAMPLE.COM` */
  principal: string
  kvno: number
  keys: Array<{ enctype: number; key: string }>
}

/** Entries of one principal and one kvno (as from deriveAccountKeys) -> the portable form. */
export function exportAccountKeys(entries: readonly KeytabEntry[]): PortableAccountKeys {
  const first = entries[0]
  if (!first)
    throw new ValidationError([{ field: 'entries', rule: 'must hold at least one key' }], 'account keys')
  if (entries.some((e) => e.kvno !== first.kvno || !samePrincipal(e.principal, first.principal))) {
    throw new ValidationError(
      [{ field: 'entries', rule: 'must all have the same principal and kvno' }],
      'account keys',
    )
  }
  return {
    principal: formatPrincipal(first.principal),
    kvno: first.kvno,
    keys: entries.map((e) => ({ enctype: e.enctype, key: e.key.toString('base64') })),
  }
}

/** The portable form -> keytab entries (KRB5_NT_PRINCIPAL), checking every field. */
export function importAccountKeys(
  portable: PortableAccountKeys,
  timestamp: number = Math.floor(Date.now() / 1000),
): KeytabEntry[] {
  const issues: ValidationIssue[] = []
  let principal: ReturnType<typeof parsePrincipal> | undefined
  try {
    principal = parsePrincipal(String(portable?.principal), NameType.Principal)
  } catch {
    issues.push({ field: 'principal', rule: 'must be NAME$@REALM' })
  }
  if (!Number.isInteger(portable?.kvno) || portable.kvno < 0 || portable.kvno > 0xffffffff) {
    issues.push({ field: 'kvno', rule: 'must be an integer from 0 to 4294967295' })
  }
  const keys = Array.isArray(portable?.keys) ? portable.keys : []
  if (keys.length === 0) issues.push({ field: 'keys', rule: 'must hold at least one key' })
  const decoded = keys.map((item, i) => {
    if (!isEncType(item?.enctype)) {
      issues.push({ field: `keys.${i}.enctype`, rule: 'must be 17 or 18' })
      return Buffer.alloc(0)
    }
    const key = typeof item.key === 'string' ? Buffer.from(item.key, 'base64') : Buffer.alloc(0)
    if (key.length !== keyLength[item.enctype]) {
      issues.push({ field: `keys.${i}.key`, rule: `must be ${keyLength[item.enctype]} bytes in base64` })
    }
    return key
  })
  if (issues.length > 0 || !principal) {
    for (const key of decoded) key.fill(0)
    throw new ValidationError(issues, 'account keys')
  }
  const realPrincipal = principal
  return keys.map((item, i) => ({
    principal: { ...realPrincipal, components: [...realPrincipal.components] },
    timestamp,
    kvno: portable.kvno,
    enctype: item.enctype,
    key: decoded[i]!,
  }))
}
