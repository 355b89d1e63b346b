import type { FastifyPluginAsync, FastifyPluginOptions } from 'fastify'

/**
 * Marks a plugin to act on the app it is registered on instead of a child scope of its own, by the
 * symbols fastify-plugin sets (the console does not depend on that package for two symbols): its
 * hooks, handlers and validator then cover every route, also the routes registered after it.
 */
export function appWide<Options extends FastifyPluginOptions>(
  name: string,
  plugin: FastifyPluginAsync<Options>,
): FastifyPluginAsync<Options> {
  return Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: name,
  })
}
