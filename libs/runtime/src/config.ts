import { readFileSync } from 'node:fs'
import {
  type Codec,
  ErrorCode,
  KrbfleetError,
  type ValidationIssue,
  ValidationError,
} from '@krbfleet/contracts'
import type { Static, TSchema } from 'typebox'
import { Value } from 'typebox/value'
import { retiredSettings } from './settings.ts'

/**
 * Settings come from the environment and an optional JSON file, checked against a TypeBox schema.
 *
 * Naming scheme: a setting's dotted path in the schema, camelCase split into words, upper-cased,
 * joined with `_` and prefixed: `nats.url` -> `KRBFLEET_NATS_URL`, `ldap.bindDn` -> `KRBFLEET_LDAP_BIND_DN`.
 * `KRBFLEET_CONFIG` names a JSON file with the same shape; the environment overrides the file.
 * `<NAME>_FILE` reads the value from a file (secrets mounted by systemd or a container runtime).
 * Values are coerced by the schema type: numbers, booleans (true/false/1/0/yes/no/on/off), lists
 * (comma-separated or a JSON array).
 */
export interface LoadConfigOptions {
  /** Default `KRBFLEET_`. */
  prefix?: string
  /** Default: the process environment (only main.ts and runService pass it). */
  env: Record<string, string | undefined>
  /** Path of a JSON file; default: the `<prefix>CONFIG` variable. */
  file?: string
  /** Old variable -> its replacement; a set old one is refused (default {@link retiredSettings}). */
  retired?: Readonly<Record<string, string>>
}

/** A configuration that cannot be used; `settings` names every offending variable. */
export class ConfigError extends KrbfleetError {
  readonly settings: string[]
  constructor(problems: Array<{ setting: string; rule: string }>) {
    super(
      ErrorCode.Invalid,
      `invalid configuration: ${problems.map((p) => `${p.setting}: ${p.rule}`).join('; ')}`,
      {
        ...(problems[0] ? { field: problems[0].setting } : {}),
        details: { problems },
      },
    )
    this.name = 'ConfigError'
    this.settings = problems.map((p) => p.setting)
  }
}

/** `nats.url` -> `KRBFLEET_NATS_URL`. */
export function envName(prefix: string, path: string[]): string {
  return (
    prefix +
    path
      .map((part) =>
        part
          .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
          .replace(/[^A-Za-z0-9]+/g, '_')
          .toUpperCase(),
      )
      .join('_')
  )
}

interface Leaf {
  path: string[]
  schema: SchemaNode
}

interface SchemaNode {
  type?: string | string[]
  properties?: Record<string, SchemaNode>
  items?: SchemaNode
  anyOf?: SchemaNode[]
  [key: string]: unknown
}

/** Every setting (leaf) of an object schema, with its path. */
export function settingsOf(
  schema: TSchema,
  prefix = 'KRBFLEET_',
): Array<{ path: string; env: string; type: string }> {
  return leaves(schema as SchemaNode, []).map((l) => ({
    path: l.path.join('.'),
    env: envName(prefix, l.path),
    type: typeOf(l.schema),
  }))
}

function leaves(node: SchemaNode, path: string[]): Leaf[] {
  if (node.type === 'object' && node.properties) {
    return Object.entries(node.properties).flatMap(([key, child]) => leaves(child, [...path, key]))
  }
  return [{ path, schema: node }]
}

function typeOf(node: SchemaNode): string {
  if (typeof node.type === 'string') return node.type
  if (Array.isArray(node.type)) return node.type.find((t) => t !== 'null') ?? 'string'
  const member = node.anyOf?.find((m) => m.type !== 'null')
  if (member) return typeOf(member)
  if ('const' in node) return typeof node.const
  return 'string'
}

const truthy = new Set(['true', '1', 'yes', 'on'])
const falsy = new Set(['false', '0', 'no', 'off'])

/** Coerces one environment string by the schema type, or returns the rule it broke. */
function coerce(raw: string, node: SchemaNode): { value: unknown } | { rule: string } {
  const type = typeOf(node)
  switch (type) {
    case 'integer':
    case 'number': {
      const n = Number(raw.trim())
      if (raw.trim() === '' || !Number.isFinite(n)) return { rule: `must be a ${type}` }
      return { value: n }
    }
    case 'boolean': {
      const v = raw.trim().toLowerCase()
      if (truthy.has(v)) return { value: true }
      if (falsy.has(v)) return { value: false }
      return { rule: 'must be true or false (also 1/0, yes/no, on/off)' }
    }
    case 'array': {
      let items: unknown[]
      if (raw.trim().startsWith('[')) {
        try {
          const parsed = JSON.parse(raw)
          if (!Array.isArray(parsed)) return { rule: 'must be a JSON array or a comma-separated list' }
          items = parsed
        } catch {
          return { rule: 'must be a JSON array or a comma-separated list' }
        }
        return { value: items }
      }
      const parts = raw
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p.length > 0)
      const out: unknown[] = []
      for (const part of parts) {
        const item = node.items ? coerce(part, node.items) : { value: part }
        if ('rule' in item) return { rule: `every list item ${item.rule}` }
        out.push(item.value)
      }
      return { value: out }
    }
    case 'object':
      try {
        return { value: JSON.parse(raw) }
      } catch {
        return { rule: 'must be a JSON object' }
      }
    default:
      return { value: raw }
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {}
    node = node[key] as Record<string, unknown>
  }
  node[path[path.length - 1] as string] = value
}

/** Creates the nested objects of the schema so that defaults inside them apply and errors name leaves. */
function scaffold(node: SchemaNode, value: Record<string, unknown>): void {
  if (node.type !== 'object' || !node.properties) return
  for (const [key, child] of Object.entries(node.properties)) {
    if (child.type === 'object' && child.properties) {
      const existing = value[key]
      if (typeof existing !== 'object' || existing === null || Array.isArray(existing)) value[key] = {}
      scaffold(child, value[key] as Record<string, unknown>)
    }
  }
}

function readSecretFile(path: string): string {
  // Only the trailing line break a text editor or `echo` adds is dropped; the rest is the secret.
  return readFileSync(path, 'utf8').replace(/\r?\n$/, '')
}

/**
 * Loads, coerces, defaults and validates the configuration. Throws a {@link ConfigError} naming
 * every bad setting by its environment variable and the rule it breaks; never echoes a value.
 */
export function loadConfig<S extends TSchema>(codec: Codec<S>, options: LoadConfigOptions): Static<S> {
  const prefix = options.prefix ?? 'KRBFLEET_'
  const env = options.env
  const schema = codec.schema as unknown as SchemaNode
  const problems: Array<{ setting: string; rule: string }> = []
  const fileVar = `${prefix}CONFIG`
  const file = options.file ?? env[fileVar]
  let value: Record<string, unknown> = {}
  if (file) {
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        problems.push({ setting: fileVar, rule: `${file} must hold a JSON object` })
      } else {
        value = parsed as Record<string, unknown>
      }
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'is not valid JSON'
      problems.push({ setting: fileVar, rule: `${file} ${reason}` })
    }
  }
  const byEnv = new Map<string, Leaf>()
  for (const leaf of leaves(schema, [])) byEnv.set(envName(prefix, leaf.path), leaf)
  for (const [name, leaf] of byEnv) {
    let raw = env[name]
    const fromFile = env[`${name}_FILE`]
    if (fromFile !== undefined && fromFile !== '') {
      if (raw !== undefined) {
        problems.push({ setting: name, rule: `set either ${name} or ${name}_FILE, not both` })
        continue
      }
      try {
        raw = readSecretFile(fromFile)
      } catch {
        problems.push({ setting: `${name}_FILE`, rule: `cannot read ${fromFile}` })
        continue
      }
    }
    if (raw === undefined) continue
    const coerced = coerce(raw, leaf.schema)
    if ('rule' in coerced) problems.push({ setting: name, rule: coerced.rule })
    else setPath(value, leaf.path, coerced.value)
  }
  for (const [old, replacement] of Object.entries(options.retired ?? retiredSettings)) {
    const replaced = byEnv.has(replacement) || byEnv.has(replacement.replace(/_FILE$/, ''))
    if (env[old] !== undefined && replaced) {
      problems.push({ setting: old, rule: `no longer read: use ${replacement}` })
    }
  }
  if (problems.length > 0) throw new ConfigError(problems)
  scaffold(schema, value)
  const withDefaults = Value.Default(codec.schema, value)
  try {
    return codec.decode(withDefaults)
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err
    throw new ConfigError(err.issues.flatMap((issue) => toProblems(prefix, issue)))
  }
}

function toProblems(prefix: string, issue: ValidationIssue): Array<{ setting: string; rule: string }> {
  if (!issue.field) return [{ setting: `${prefix}CONFIG`, rule: issue.rule }]
  // List items (`nats.servers.0`) belong to the list's setting.
  const path = issue.field.split('.').filter((part) => !/^\d+$/.test(part))
  // The codec joins several missing properties of one object: `ldap.url,bindDn`.
  const last = path.pop() ?? ''
  return last.split(',').map((name) => {
    const full = [...path, name]
    return { setting: `${envName(prefix, full)} (${full.join('.')})`, rule: issue.rule }
  })
}
