import {
  AndFilter,
  EqualityFilter,
  ExtensibleFilter,
  GreaterThanEqualsFilter,
  LessThanEqualsFilter,
  type Filter as LdaptsFilter,
  NotFilter,
  OrFilter,
  PresenceFilter,
  SubstringFilter,
} from 'ldapts'
import { ValidationError } from '@krbfleet/contracts'
import { type Filter, matchingRule } from '../../domain/filter.ts'

/**
 * Our filter structure as ldapts filter objects, which ldapts encodes to BER as is: values travel
 * as octet strings and are never parsed from text, so nothing in them can act as filter syntax.
 */
export function toLdaptsFilter(f: Filter): LdaptsFilter {
  // Types stop TypeScript callers; this stops a raw string (or anything else) from plain JS.
  if (typeof f !== 'object' || f === null) throw notAFilter()
  switch (f.kind) {
    case 'eq':
      return new EqualityFilter({
        attribute: f.attribute,
        value: typeof f.value === 'string' ? f.value : Buffer.from(f.value),
      })
    case 'ge':
      return new GreaterThanEqualsFilter({ attribute: f.attribute, value: f.value })
    case 'le':
      return new LessThanEqualsFilter({ attribute: f.attribute, value: f.value })
    case 'present':
      return new PresenceFilter({ attribute: f.attribute })
    case 'substring': {
      const options: { attribute: string; any: string[]; initial?: string; final?: string } = {
        attribute: f.attribute,
        any: [...f.any],
      }
      if (f.initial !== undefined) options.initial = f.initial
      if (f.final !== undefined) options.final = f.final
      return new SubstringFilter(options)
    }
    case 'bitAnd':
      return new ExtensibleFilter({
        matchType: f.attribute,
        rule: matchingRule.bitAnd,
        value: String(f.value),
      })
    case 'bitOr':
      return new ExtensibleFilter({
        matchType: f.attribute,
        rule: matchingRule.bitOr,
        value: String(f.value),
      })
    case 'and':
      return new AndFilter({ filters: f.filters.map(toLdaptsFilter) })
    case 'or':
      return new OrFilter({ filters: f.filters.map(toLdaptsFilter) })
    case 'not':
      return new NotFilter({ filter: toLdaptsFilter(f.filter) })
    default:
      throw notAFilter()
  }
}

function notAFilter(): ValidationError {
  return new ValidationError(
    [
      {
        field: 'filter',
        rule: 'must be built with filter.eq/and/or/...; raw filter strings are not accepted',
      },
    ],
    'search',
  )
}
