import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { busOptionsFromSettings, NatsSettings } from '@krbfleet/bus'
import { codec, ValidationError } from '@krbfleet/contracts'
import { directoryOptionsFromSettings, LdapSettings } from '@krbfleet/directory'
import Type from 'typebox'
import { ConfigError, HttpSettings, loadConfig, settingsOf } from '../src/index.ts'

// A service's configuration as every services/*/src/config.ts composes it.
const ServiceSettings = codec(
  Type.Object({ nats: NatsSettings, ldap: LdapSettings, http: HttpSettings(9103) }),
  'configuration',
)
const ldapEnv = {
  KRBFLEET_LDAP_URL: 'ldaps://dc1.corp.example.com:636',
  KRBFLEET_LDAP_CA_FILE: '/etc/krbfleet/ca.pem',
  KRBFLEET_LDAP_BIND_DN: 'CN=svc,DC=corp,DC=example,DC=com',
  KRBFLEET_LDAP_PASSWORD: 'not-a-real-password',
}

describe('settings groups', () => {
  test('one naming scheme: KRBFLEET_NATS_*, KRBFLEET_LDAP_*, KRBFLEET_HTTP_*', () => {
    assert.deepEqual(
      settingsOf(ServiceSettings.schema).map((s) => s.env),
      [
        'KRBFLEET_NATS_URL',
        'KRBFLEET_NATS_USER',
        'KRBFLEET_NATS_PASSWORD',
        'KRBFLEET_NATS_CA_FILE',
        'KRBFLEET_NATS_CERT_FILE',
        'KRBFLEET_NATS_KEY_FILE',
        'KRBFLEET_NATS_INBOX_PREFIX',
        'KRBFLEET_NATS_JS_DOMAIN',
        'KRBFLEET_NATS_EVENTS_MAX_BYTES',
        'KRBFLEET_NATS_EVENTS_MAX_MESSAGES',
        'KRBFLEET_LDAP_URL',
        'KRBFLEET_LDAP_START_TLS',
        'KRBFLEET_LDAP_CA_FILE',
        'KRBFLEET_LDAP_SERVERNAME',
        'KRBFLEET_LDAP_BIND_DN',
        'KRBFLEET_LDAP_PASSWORD',
        'KRBFLEET_LDAP_TIMEOUT_MS',
        'KRBFLEET_HTTP_HOST',
        'KRBFLEET_HTTP_PORT',
      ],
    )
  })

  test('defaults; a NATS URL list; the service default port', () => {
    const defaults = loadConfig(ServiceSettings, { env: ldapEnv })
    assert.deepEqual(defaults.nats, { url: ['nats://127.0.0.1:4222'] })
    assert.deepEqual(defaults.http, { host: '127.0.0.1', port: 9103 })
    assert.equal(defaults.ldap.startTls, false)
    assert.equal(defaults.ldap.timeoutMs, 10_000)
    const cluster = loadConfig(ServiceSettings, {
      env: {
        ...ldapEnv,
        KRBFLEET_NATS_URL: 'tls://hub-1:4222, tls://hub-2:4222',
        KRBFLEET_NATS_CA_FILE: '/ca.pem',
      },
    })
    assert.deepEqual(cluster.nats.url, ['tls://hub-1:4222', 'tls://hub-2:4222'])
    assert.deepEqual(busOptionsFromSettings(cluster.nats), {
      servers: ['tls://hub-1:4222', 'tls://hub-2:4222'],
      tls: { caFile: '/ca.pem' },
    })
  })

  test('NATS settings map to connectBus options (password -> pass, TLS files -> tls)', () => {
    assert.deepEqual(
      busOptionsFromSettings({
        url: 'nats://n:4222',
        user: 'krbfleet-account',
        password: 'pw',
        caFile: '/ca.pem',
        certFile: '/c.pem',
        keyFile: '/k.pem',
      }),
      {
        servers: 'nats://n:4222',
        user: 'krbfleet-account',
        pass: 'pw',
        tls: { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' },
      },
    )
    // An agent on a leaf node names the hub's JetStream domain.
    assert.deepEqual(busOptionsFromSettings({ url: 'tls://leaf:4222', jsDomain: 'hub' }), {
      servers: 'tls://leaf:4222',
      jsDomain: 'hub',
    })
    assert.throws(
      () => busOptionsFromSettings({ url: ['nats://n:4222'], certFile: '/c.pem' }),
      (err: unknown) => err instanceof ValidationError && err.field === 'nats.keyFile',
    )
  })

  test('LDAP settings map to connectDirectory options', () => {
    const config = loadConfig(ServiceSettings, {
      env: { ...ldapEnv, KRBFLEET_LDAP_SERVERNAME: 'DC1.corp.example.com', KRBFLEET_LDAP_START_TLS: 'yes' },
    })
    assert.deepEqual(directoryOptionsFromSettings(config.ldap), {
      url: 'ldaps://dc1.corp.example.com:636',
      startTls: true,
      caFile: '/etc/krbfleet/ca.pem',
      servername: 'DC1.corp.example.com',
      bindDn: 'CN=svc,DC=corp,DC=example,DC=com',
      password: 'not-a-real-password',
      timeoutMs: 10_000,
    })
  })

  test('a bad value names the variable; a retired name is refused naming its replacement', () => {
    assert.throws(
      () => loadConfig(ServiceSettings, { env: { ...ldapEnv, KRBFLEET_LDAP_URL: 'http://dc1' } }),
      (err: unknown) => err instanceof ConfigError && err.settings[0] === 'KRBFLEET_LDAP_URL (ldap.url)',
    )
    for (const [old, replacement] of [
      ['KRBFLEET_HEALTH_PORT', 'KRBFLEET_HTTP_PORT'],
      ['KRBFLEET_NATS_PASS_FILE', 'KRBFLEET_NATS_PASSWORD_FILE'],
    ] as const) {
      assert.throws(
        () => loadConfig(ServiceSettings, { env: { ...ldapEnv, [old]: '/x' } }),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.settings.includes(old) &&
          err.message.includes(`${old}: no longer read: use ${replacement}`),
      )
    }
    // Only where the schema has the replacement: a schema without HTTP settings ignores it.
    const natsOnly = codec(Type.Object({ nats: NatsSettings }))
    assert.deepEqual(loadConfig(natsOnly, { env: { KRBFLEET_HEALTH_PORT: '1' } }).nats.url, [
      'nats://127.0.0.1:4222',
    ])
  })
})
