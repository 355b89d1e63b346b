import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from 'esbuild'
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { FastifyInstance, FastifyReply } from 'fastify'

/**
 * The web dashboard (services/console/dashboard): a page, its stylesheet, icon and script, served
 * under /dashboard/ with no token (they hold no data; the page asks for a token and reads the API
 * with it). The script is the dashboard's TypeScript bundled once, when the console starts (esbuild,
 * in memory). A strict Content-Security-Policy: nothing but this origin, no inline script or style.
 */

const folder = join(import.meta.dirname, '..', '..', 'dashboard')

const headers = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
}

/** The dashboard's files, by name: what they are and what they hold. */
export async function dashboardFiles(): Promise<Map<string, { type: string; body: string }>> {
  const bundle = await build({
    entryPoints: [join(folder, 'main.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  })
  return new Map([
    ['', { type: 'text/html; charset=utf-8', body: await readFile(join(folder, 'index.html'), 'utf8') }],
    [
      'dashboard.css',
      { type: 'text/css; charset=utf-8', body: await readFile(join(folder, 'dashboard.css'), 'utf8') },
    ],
    ['favicon.svg', { type: 'image/svg+xml', body: await readFile(join(folder, 'favicon.svg'), 'utf8') }],
    ['dashboard.js', { type: 'text/javascript; charset=utf-8', body: bundle.outputFiles[0]!.text }],
  ])
}

export async function dashboard(app: FastifyInstance): Promise<void> {
  const files = await dashboardFiles()
  app.get('/dashboard', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/dashboard/'))
  const serve = (name: string, reply: FastifyReply) => {
    const file = files.get(name)
    if (!file) throw new KrbfleetError(ErrorCode.NotFound, `the dashboard has no file '${name}'`)
    return reply.headers(headers).type(file.type).send(file.body)
  }
  app.get('/dashboard/', { schema: { hide: true } }, async (_req, reply) => serve('', reply))
  app.get<{ Params: { file: string } }>('/dashboard/:file', { schema: { hide: true } }, async (req, reply) =>
    serve(req.params.file, reply),
  )
}
