import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { appWide } from './app-wide.ts'

/**
 * The OpenAPI document of every route (JSON at /docs/json, the UI at /docs), bearer auth declared.
 * Register it before the routes: it collects them as they are added.
 */
export const openApi = appWide('krbfleet-openapi', async (app) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'krbfleet console',
        version: '1',
        description: 'Kerberos accounts and keys for web farms',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
})
