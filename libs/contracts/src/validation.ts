import type { Static, TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { type ValidationIssue, ValidationError } from './errors.ts'

export interface Codec<S extends TSchema> {
  readonly schema: S
  /** True when the value matches the schema. */
  check(value: unknown): value is Static<S>
  /** The value typed, or a {@link ValidationError} naming every offending field and rule. */
  decode(value: unknown): Static<S>
  issues(value: unknown): ValidationIssue[]
}

/** Compiles a schema once; `what` names the thing in error messages ("pool", "SiteAdded event"). */
export function codec<S extends TSchema>(schema: S, what = 'input'): Codec<S> {
  // Compiled on first use: a process pays only for the shapes it checks (an agent checks a handful
  // of the contracts' hundred-odd schemas; compiling all of them at import cost it tens of MB).
  let validator: ReturnType<typeof Compile<S>> | undefined
  const compiled = () => {
    validator ??= Compile(schema)
    return validator
  }
  const issues = (value: unknown): ValidationIssue[] => {
    const seen = new Set<string>()
    const out: ValidationIssue[] = []
    for (const e of compiled().Errors(value)) {
      // "schema is false" repeats the additionalProperties error with less information.
      if (e.message === 'schema is false') continue
      let field = e.instancePath.replace(/^\//, '').replaceAll('/', '.')
      let rule = e.message
      const params = e.params as { additionalProperties?: string[]; requiredProperties?: string[] }
      if (e.keyword === 'additionalProperties' && params.additionalProperties) {
        field = [field, params.additionalProperties.join(',')].filter(Boolean).join('.')
        rule = 'is not an allowed property'
      } else if (e.keyword === 'required' && params.requiredProperties) {
        field = [field, params.requiredProperties.join(',')].filter(Boolean).join('.')
        rule = 'is required'
      }
      const key = `${field}\u0000${rule}`
      if (seen.has(key)) continue
      seen.add(key)
      out.push({ field, rule })
    }
    return out
  }
  return {
    schema,
    check: (value: unknown): value is Static<S> => compiled().Check(value),
    decode(value: unknown): Static<S> {
      if (compiled().Check(value)) return value
      throw new ValidationError(issues(value), what)
    },
    issues,
  }
}
