import { codec, ValidationError } from '@krbfleet/contracts'
import type { FastifySchemaCompiler } from 'fastify'
import Type, { type TSchema } from 'typebox'
import { Value } from 'typebox/value'
import { appWide } from './app-wide.ts'

/**
 * The body of every route that declares none (the DELETEs, password-reset, enable, ...): nothing,
 * or `{dryRun: boolean}` at most. A body nobody looks at would let `{"dryRun":"true"}` (a string)
 * or a misspelt `{"dryrun":true}` perform the real change; refused, it is a 400 naming the field,
 * and a route added later gets the same rule without thinking of it.
 */
const DefaultChangeBody = Type.Optional(
  Type.Object(
    { dryRun: Type.Optional(Type.Boolean({ description: 'decide and answer without changing anything' })) },
    { additionalProperties: false },
  ),
)

/**
 * Validates with the contracts codec (the same TypeBox schemas and messages as the services).
 * Query strings and path parameters arrive as text and are converted first ("true" -> true).
 */
const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const checker = codec(schema, httpPart === 'body' ? 'body' : (httpPart ?? 'request'))
  // fastify hands an absent body over as null; an optional body may be absent (or JSON null).
  const optionalBody = httpPart === 'body' && Type.IsOptional(schema)
  return (value: unknown) => {
    if (optionalBody && (value === null || value === undefined)) return { value: undefined }
    const converted = httpPart === 'body' ? value : Value.Convert(schema, value)
    if (checker.check(converted)) return { value: converted }
    const issues = checker.issues(converted).map((i) => ({
      ...i,
      field:
        httpPart === 'body' || !httpPart
          ? i.field || 'body'
          : [httpPart === 'querystring' ? 'query' : httpPart, i.field].filter(Boolean).join('.'),
    }))
    return { error: new ValidationError(issues, httpPart === 'body' ? 'body' : 'request') }
  }
}

/**
 * Request validation: the contracts codec for every schema, and DefaultChangeBody for every route
 * that may change something and declares no body. Register it before any route (and before the
 * OpenAPI plugin, so that the document shows the default body too).
 */
export const validation = appWide('krbfleet-validation', async (app) => {
  app.setValidatorCompiler(validatorCompiler)
  app.addHook('onRoute', (route) => {
    const methods = [route.method].flat()
    if (methods.every((m) => m === 'GET' || m === 'HEAD')) return
    if (route.schema?.body !== undefined) return
    route.schema = { ...route.schema, body: DefaultChangeBody }
  })
})
