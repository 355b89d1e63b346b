import { createHash, randomBytes } from 'node:crypto'
import { type CommandModule, UsageError } from '../framework.ts'

const roles = ['viewer', 'operator', 'admin']
const sha256 = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex')

/**
 * Console tokens are configured as sha256 hashes (KRBFLEET_CONSOLE_TOKENS_FILE: [{name, role, sha256}]).
 * These verbs run locally. A token is read from standard input, never from the command line (ps).
 */
export const tokenCommands: CommandModule = {
  area: 'token',
  summary: 'make console tokens and their hashed records (local, no console needed)',
  verbs: {
    hash: {
      summary: 'read a token on standard input, print its sha256 (the record field)',
      offline: true,
      options: { name: { type: 'string' }, role: { type: 'string' } },
      async run(ctx) {
        const token = (await ctx.io.readStdin()).trim()
        if (!token) throw new UsageError('no token on standard input')
        const hash = sha256(token)
        const name = ctx.options.name as string | undefined
        const role = ctx.options.role as string | undefined
        if (role !== undefined && !roles.includes(role))
          throw new UsageError(`--role must be one of ${roles.join(', ')}`)
        const record = name ? { name, role: role ?? 'viewer', sha256: hash } : { sha256: hash }
        ctx.print(record, () => (name ? JSON.stringify(record) : hash))
        return 0
      },
    },
    new: {
      summary: 'generate a random token; prints it once with the record to add to the tokens file',
      offline: true,
      args: ['NAME'],
      options: { role: { type: 'string' } },
      run(ctx) {
        const role = (ctx.options.role as string | undefined) ?? 'viewer'
        if (!roles.includes(role)) throw new UsageError(`--role must be one of ${roles.join(', ')}`)
        const name = ctx.args.NAME!
        if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(name)) {
          throw new UsageError('NAME: 1-64 letters, digits, ".", "@", "-" or "_"')
        }
        const token = randomBytes(32).toString('base64url')
        const record = { name, role, sha256: sha256(token) }
        ctx.print({ token, record }, () =>
          [
            `token (shown once, give it to ${name}): ${token}`,
            `record for the tokens file: ${JSON.stringify(record)}`,
          ].join('\n'),
        )
        return 0
      },
    },
  },
}
