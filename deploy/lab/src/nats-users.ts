import { randomBytes } from 'node:crypto'
import {
  agentUser,
  bootstrapUser,
  type NatsUser,
  renderUsers,
  serviceUsers,
} from '../../nats/src/permissions.ts'
import { type LabLayout, secretFile, secretPath } from './layout.ts'
import { sampleTopology } from './sample.ts'

/**
 * The lab's NATS users: exactly deploy/nats's (one per service, the bootstrap identity, one per
 * agent of the sample), with the same per-user permissions, so `npm run lab` runs the production
 * security model. Each password is a lab secret (`.lab/secrets/nats-<user>.password`, 0600):
 * nats-server gets them as the environment variables its configuration names, a service as
 * KRBFLEET_NATS_PASSWORD_FILE.
 */
export function labNatsUsers(): NatsUser[] {
  return [...serviceUsers(), bootstrapUser(), ...sampleTopology.servers.map((s) => agentUser(s.fqdn))]
}

const passwordFile = (user: NatsUser) => `nats-${user.user}.password`

/** Creates the missing passwords; returns nats-server's environment (`KRBFLEET_NATS_PASSWORD_<USER>`). */
export async function natsPasswordEnv(layout: LabLayout): Promise<Record<string, string>> {
  const env: Record<string, string> = {}
  for (const user of labNatsUsers()) {
    // nats-server parses a variable's value as a configuration token: one starting with a digit
    // or '-' is read as a number and refused, so every password starts with letters.
    env[user.passwordVariable.slice(1)] = await secretFile(
      layout,
      passwordFile(user),
      () => `kfn_${randomBytes(24).toString('base64url')}`,
    )
  }
  return env
}

/** The accounts block of the lab's nats.conf: one account, JetStream on, every lab user. */
export function natsAccounts(): string {
  return [
    'accounts {',
    '  KRBFLEET {',
    '    jetstream: enabled',
    '    users: [',
    renderUsers(labNatsUsers(), '      '),
    '    ]',
    '  }',
    '}',
  ].join('\n')
}

/** A client's settings as `user` (libs/bus NatsSettings): name, password file, inbox prefix. */
export function natsClientEnv(layout: LabLayout, user: NatsUser): Record<string, string> {
  return {
    KRBFLEET_NATS_USER: user.user,
    KRBFLEET_NATS_PASSWORD_FILE: secretPath(layout, passwordFile(user)),
    KRBFLEET_NATS_INBOX_PREFIX: user.inboxPrefix,
  }
}

/** The user a lab part connects as: `krbfleet-<service>`, or the agent user of its server. */
export function natsUserFor(part: { name: string; agentOf?: { fqdn: string } }): NatsUser {
  const name = part.agentOf ? agentUser(part.agentOf.fqdn).user : `krbfleet-${part.name}`
  const user = labNatsUsers().find((u) => u.user === name)
  if (!user) throw new Error(`lab: no NATS user ${name} for ${part.name} (deploy/nats permissions)`)
  return user
}
