import { ValidationError } from '@krbfleet/contracts'
import { escapeFilterValue } from './escape.ts'

/**
 * LDAP search filters as data. The builders (`filter.eq`, `filter.and` ...) are the only way to
 * make one: a value from input is kept as a value, never pasted into filter text, so no input can
 * change the structure of a filter (RFC 4515). `renderFilter` writes the escaped string form for
 * logs and tests; the adapter sends the structure itself.
 */
export type Filter =
  | { readonly kind: 'eq'; readonly attribute: string; readonly value: string | Uint8Array }
  | { readonly kind: 'ge' | 'le'; readonly attribute: string; readonly value: string }
  | { readonly kind: 'present'; readonly attribute: string }
  | {
      readonly kind: 'substring'
      readonly attribute: string
      readonly initial?: string
      readonly any: readonly string[]
      readonly final?: string
    }
  | { readonly kind: 'bitAnd' | 'bitOr'; readonly attribute: string; readonly value: number }
  | { readonly kind: 'and' | 'or'; readonly filters: readonly Filter[] }
  | { readonly kind: 'not'; readonly filter: Filter }

/**
 * RFC 4512 section 1.4: `descr` (a name) or `numericoid`, optionally with options (`;binary`, and
 * AD's `;range=0-1499` of range retrieval).
 */
const attributeDescription =
  /^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;(?:[A-Za-z0-9-]+|range=[0-9]+-(?:[0-9]+|\*)))*$/

/** Throws a ValidationError unless `name` is an attribute description. */
export function checkAttributeName(name: string, field = 'attribute'): string {
  if (typeof name !== 'string' || !attributeDescription.test(name)) {
    throw new ValidationError(
      [
        {
          field,
          rule: `must be an LDAP attribute name (letters, digits and '-') or OID, got ${JSON.stringify(name)}`,
        },
      ],
      'LDAP filter',
    )
  }
  return name
}

function checkValue(value: unknown, field: string): void {
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
    throw new ValidationError([{ field, rule: 'must be a string or bytes' }], 'LDAP filter')
  }
}

/** Active Directory's bitwise matching rules (MS-ADTS 3.1.1.3.4.4.1 / .2). */
export const matchingRule = {
  bitAnd: '1.2.840.113556.1.4.803',
  bitOr: '1.2.840.113556.1.4.804',
} as const

export const filter = {
  /** `(attribute=value)`; equality on most AD string attributes is case-insensitive. */
  eq(attribute: string, value: string | Uint8Array): Filter {
    checkAttributeName(attribute)
    checkValue(value, `${attribute} value`)
    return Object.freeze({ kind: 'eq', attribute, value })
  },
  ge(attribute: string, value: string): Filter {
    checkAttributeName(attribute)
    checkValue(value, `${attribute} value`)
    return Object.freeze({ kind: 'ge', attribute, value })
  },
  le(attribute: string, value: string): Filter {
    checkAttributeName(attribute)
    checkValue(value, `${attribute} value`)
    return Object.freeze({ kind: 'le', attribute, value })
  },
  /** `(attribute=*)` */
  present(attribute: string): Filter {
    checkAttributeName(attribute)
    return Object.freeze({ kind: 'present', attribute })
  },
  /** `(attribute=prefix*)`, the prefix escaped (a `*` in it is a literal star). */
  startsWith(attribute: string, prefix: string): Filter {
    checkAttributeName(attribute)
    checkValue(prefix, `${attribute} prefix`)
    if (prefix === '') return filter.present(attribute)
    return Object.freeze({ kind: 'substring', attribute, initial: prefix, any: [] })
  },
  /** `(attribute:1.2.840.113556.1.4.803:=bits)`: every bit of `bits` is set (userAccountControl). */
  bitAnd(attribute: string, bits: number): Filter {
    checkAttributeName(attribute)
    if (!Number.isSafeInteger(bits) || bits < 0) {
      throw new ValidationError(
        [{ field: `${attribute} bits`, rule: 'must be a non-negative integer' }],
        'LDAP filter',
      )
    }
    return Object.freeze({ kind: 'bitAnd', attribute, value: bits })
  },
  /** `(attribute:1.2.840.113556.1.4.804:=bits)`: at least one bit of `bits` is set. */
  bitOr(attribute: string, bits: number): Filter {
    checkAttributeName(attribute)
    if (!Number.isSafeInteger(bits) || bits < 0) {
      throw new ValidationError(
        [{ field: `${attribute} bits`, rule: 'must be a non-negative integer' }],
        'LDAP filter',
      )
    }
    return Object.freeze({ kind: 'bitOr', attribute, value: bits })
  },
  and(...filters: Filter[]): Filter {
    if (filters.length === 0)
      throw new ValidationError([{ field: 'and', rule: 'needs at least one filter' }], 'LDAP filter')
    return Object.freeze({ kind: 'and', filters: Object.freeze([...filters]) })
  },
  or(...filters: Filter[]): Filter {
    if (filters.length === 0)
      throw new ValidationError([{ field: 'or', rule: 'needs at least one filter' }], 'LDAP filter')
    return Object.freeze({ kind: 'or', filters: Object.freeze([...filters]) })
  },
  not(inner: Filter): Filter {
    return Object.freeze({ kind: 'not', filter: inner })
  },
  /** `(objectClass=*)`: every entry (the default of a search). */
  any(): Filter {
    return filter.present('objectClass')
  },
}

/** The RFC 4515 string form of a filter, every value escaped. */
export function renderFilter(f: Filter): string {
  switch (f.kind) {
    case 'eq':
      return `(${f.attribute}=${escapeFilterValue(f.value)})`
    case 'ge':
      return `(${f.attribute}>=${escapeFilterValue(f.value)})`
    case 'le':
      return `(${f.attribute}<=${escapeFilterValue(f.value)})`
    case 'present':
      return `(${f.attribute}=*)`
    case 'substring': {
      const parts = [f.initial ?? '', ...f.any, f.final ?? ''].map((p) => escapeFilterValue(p))
      return `(${f.attribute}=${parts.join('*')})`
    }
    case 'bitAnd':
      return `(${f.attribute}:${matchingRule.bitAnd}:=${f.value})`
    case 'bitOr':
      return `(${f.attribute}:${matchingRule.bitOr}:=${f.value})`
    case 'and':
      return `(&${f.filters.map(renderFilter).join('')})`
    case 'or':
      return `(|${f.filters.map(renderFilter).join('')})`
    case 'not':
      return `(!${renderFilter(f.filter)})`
  }
}
