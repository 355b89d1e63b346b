import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type Bus, callRpc } from '@krbfleet/bus'
import { TopologyOperation } from '@krbfleet/contracts'
import { exportPublicKey, type SignerKeyPair } from '@krbfleet/sealing'

/**
 * A benchmark web server's agent folder, `<work>/<server>` (0700), holding its one-time enrolment
 * token (0600, from the topology's agent.token), and the KRBFLEET_* settings its agent runs with
 * there: keytab backend in the folder, no KDC check, the account service's signing key trusted.
 */
export async function prepareAgentFolder(options: {
  bus: Bus
  natsUrl: string
  signer: Pick<SignerKeyPair, 'publicKey'>
  work: string
  server: string
}): Promise<Record<string, string>> {
  const { server } = options
  const dir = join(options.work, server)
  const { token } = await callRpc<{ token: string }>(
    options.bus,
    'topology',
    TopologyOperation.AgentToken,
    { server },
    { actor: 'user:bench' },
  )
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await writeFile(join(dir, 'enrol-token'), token, { mode: 0o600 })
  return {
    KRBFLEET_NATS_URL: options.natsUrl,
    KRBFLEET_AGENT_SERVER: server,
    KRBFLEET_AGENT_STATE_DIR: dir,
    KRBFLEET_AGENT_KEYTAB: join(dir, 'keytab', 'http.keytab'),
    KRBFLEET_AGENT_KDC_CHECK: 'false',
    KRBFLEET_AGENT_SIGNER_KEY: exportPublicKey(options.signer.publicKey),
  }
}
