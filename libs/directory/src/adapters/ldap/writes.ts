import { ValidationError } from '@krbfleet/contracts'
import { Attribute, Change } from 'ldapts'
import { parseDn } from '../../domain/dn.ts'
import { checkAttributeName } from '../../domain/filter.ts'
import { passwordAttributes } from '../../domain/password.ts'
import type { LdapConnection } from './connection.ts'

// Adds, modifies and deletes of entries (the account service creates and changes its computer
// accounts with these). A write that carries a password attribute is refused on a plain
// connection before the request is built.

/** One value of an attribute to write. Numbers are written in decimal. */
export type AttributeValue = string | number | Uint8Array

/** A change in plain form; ldapts `Change` objects are accepted too. */
export interface AttributeChange {
  operation: 'add' | 'delete' | 'replace'
  attribute: string
  values: AttributeValue[]
}

export async function addEntry(
  connection: LdapConnection,
  dn: string,
  attributes: Record<string, AttributeValue | AttributeValue[]>,
): Promise<void> {
  parseDn(dn)
  const list: Attribute[] = []
  for (const [name, raw] of Object.entries(attributes)) {
    checkAttributeName(name, `attributes.${name}`)
    if (passwordAttributes.has(name.toLowerCase())) connection.refuseUnlessEncrypted('write a password', dn)
    list.push(toAttribute(name, Array.isArray(raw) ? raw : [raw], `attributes.${name}`))
  }
  if (list.length === 0)
    throw new ValidationError([{ field: 'attributes', rule: 'must not be empty' }], 'add')
  await connection.run('add', dn, (c) => c.add(dn, list))
}

export async function modifyEntry(
  connection: LdapConnection,
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
      connection.refuseUnlessEncrypted('write a password', dn)
    }
  }
  await connection.run('modify', dn, (c) => c.modify(dn, list))
}

export async function deleteEntry(connection: LdapConnection, dn: string): Promise<void> {
  parseDn(dn)
  await connection.run('delete', dn, (c) => c.del(dn))
}

/** Values as ldapts sends them: all text, or all bytes when any value is bytes (text then in UTF-8). */
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
