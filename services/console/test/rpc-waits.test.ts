import assert from 'node:assert/strict'
import { test } from 'node:test'
import { directoryRpcTimeoutMs, ServiceName } from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { buildApp, hashToken } from '../src/index.ts'

/**
 * How long the console waits for each service (app.inject; the RpcCaller port records the calls
 * instead of sending them). The account service and spn-sync talk to AD: the console waits longer
 * than their LDAP work may take, derived from the one LDAP timeout setting, so their own answer
 * ("outcome unknown, being reconciled") reaches the operator. Against real services and a stalled
 * DC: test/faults.e2e.test.ts.
 */

const secret = 'admin-token-secret'

async function waitsFor(ldapTimeoutMs: number | undefined): Promise<Map<string, number | undefined>> {
  const waits = new Map<string, number | undefined>()
  const app = await buildApp(
    {
      logger: silentLogger(),
      tokens: [{ name: 'admin', role: 'admin', sha256: hashToken(secret) }],
      rpc: async (service, _operation, _body, options) => {
        waits.set(service, options.timeoutMs)
        return [] as never
      },
      publish: async () => {},
    },
    ldapTimeoutMs === undefined ? {} : { ldapTimeoutMs },
  )
  try {
    for (const url of ['/v1/accounts', '/v1/spn/duplicates', '/v1/sites']) {
      await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${secret}` } })
    }
  } finally {
    await app.close()
  }
  return waits
}

test('the console waits for account and spn-sync longer than two LDAP timeouts; topology keeps the bus default', async () => {
  for (const [setting, ldap] of [
    [undefined, 10_000],
    [3000, 3000],
  ] as const) {
    const waits = await waitsFor(setting)
    const expected = directoryRpcTimeoutMs(ldap)
    assert.ok(expected > 2 * ldap)
    assert.equal(waits.get(ServiceName.Account), expected, `account at LDAP timeout ${ldap}`)
    assert.equal(waits.get(ServiceName.SpnSync), expected, `spn-sync at LDAP timeout ${ldap}`)
    assert.ok(waits.has(ServiceName.Topology), 'the sites list was asked of topology')
    assert.equal(waits.get(ServiceName.Topology), undefined)
  }
})
