import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { codec } from '@krbfleet/contracts'
import Type from 'typebox'
import { ConfigError, envName, loadConfig, settingsOf } from '../src/index.ts'

const Settings = codec(
  Type.Object({
    nats: Type.Object({
      servers: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, default: ['nats://127.0.0.1:4222'] }),
      user: Type.Optional(Type.String()),
      password: Type.Optional(Type.String()),
    }),
    ldap: Type.Object({
      url: Type.String({ pattern: '^ldaps?://' }),
      bindDn: Type.String({ minLength: 1 }),
      startTls: Type.Boolean({ default: false }),
    }),
    http: Type.Object({ port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }) }),
    resyncIntervalMs: Type.Number({ minimum: 1000, default: 300_000 }),
  }),
  'configuration',
)

const base = { KRBFLEET_LDAP_URL: 'ldaps://dc1', KRBFLEET_LDAP_BIND_DN: 'CN=svc' }
const dir = mkdtempSync(join(tmpdir(), 'krbfleet-config-'))

describe('loadConfig', () => {
  test('maps dotted camelCase paths to KRBFLEET_ variables', () => {
    assert.equal(envName('KRBFLEET_', ['nats', 'url']), 'KRBFLEET_NATS_URL')
    assert.equal(envName('KRBFLEET_', ['ldap', 'bindDn']), 'KRBFLEET_LDAP_BIND_DN')
    assert.deepEqual(
      settingsOf(Settings.schema).map((s) => s.env),
      [
        'KRBFLEET_NATS_SERVERS',
        'KRBFLEET_NATS_USER',
        'KRBFLEET_NATS_PASSWORD',
        'KRBFLEET_LDAP_URL',
        'KRBFLEET_LDAP_BIND_DN',
        'KRBFLEET_LDAP_START_TLS',
        'KRBFLEET_HTTP_PORT',
        'KRBFLEET_RESYNC_INTERVAL_MS',
      ],
    )
  })

  test('applies defaults and coerces numbers, booleans and lists', () => {
    const config = loadConfig(Settings, {
      env: {
        ...base,
        KRBFLEET_NATS_SERVERS: 'nats://a:4222, nats://b:4222',
        KRBFLEET_LDAP_START_TLS: 'yes',
        KRBFLEET_HTTP_PORT: '9090',
      },
    })
    assert.deepEqual(config, {
      nats: { servers: ['nats://a:4222', 'nats://b:4222'] },
      ldap: { url: 'ldaps://dc1', bindDn: 'CN=svc', startTls: true },
      http: { port: 9090 },
      resyncIntervalMs: 300_000,
    })
    const defaults = loadConfig(Settings, { env: base })
    assert.deepEqual(defaults.nats.servers, ['nats://127.0.0.1:4222'])
    assert.equal(defaults.ldap.startTls, false)
    assert.deepEqual(
      loadConfig(Settings, { env: { ...base, KRBFLEET_NATS_SERVERS: '["nats://j:1"]' } }).nats.servers,
      ['nats://j:1'],
    )
  })

  test('a JSON file gives settings and the environment overrides it', () => {
    const file = join(dir, 'config.json')
    writeFileSync(
      file,
      JSON.stringify({ ldap: { url: 'ldap://file', bindDn: 'CN=file' }, http: { port: 1 } }),
    )
    const config = loadConfig(Settings, { env: { KRBFLEET_CONFIG: file, KRBFLEET_HTTP_PORT: '2' } })
    assert.equal(config.ldap.url, 'ldap://file')
    assert.equal(config.http.port, 2)
    assert.equal(loadConfig(Settings, { env: {}, file }).ldap.bindDn, 'CN=file')
  })

  test('a secret can come from a _FILE variable, without its trailing newline', () => {
    const secret = join(dir, 'nats-password')
    writeFileSync(secret, 's3cret value\n', { mode: 0o600 })
    const config = loadConfig(Settings, { env: { ...base, KRBFLEET_NATS_PASSWORD_FILE: secret } })
    assert.equal(config.nats.password, 's3cret value')
  })

  test('bad values throw naming the variable and the rule, never the value', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ KRBFLEET_HTTP_PORT: 'eighty' }, /KRBFLEET_HTTP_PORT: must be a integer/],
      [{ KRBFLEET_HTTP_PORT: '70000' }, /KRBFLEET_HTTP_PORT \(http\.port\): .*65535/],
      [{ KRBFLEET_LDAP_START_TLS: 'maybe' }, /KRBFLEET_LDAP_START_TLS: must be true or false/],
      [{ KRBFLEET_LDAP_URL: 'http://dc1' }, /KRBFLEET_LDAP_URL \(ldap\.url\): .*pattern/],
      [{ KRBFLEET_NATS_PASSWORD_FILE: join(dir, 'missing') }, /KRBFLEET_NATS_PASSWORD_FILE: cannot read/],
      [{ KRBFLEET_CONFIG: join(dir, 'missing.json') }, /KRBFLEET_CONFIG: .* does not exist/],
    ]
    for (const [env, message] of cases) {
      assert.throws(
        () => loadConfig(Settings, { env: { ...base, ...env } }),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError)
          assert.match(err.message, message)
          assert.equal(err.code, 'invalid')
          return true
        },
      )
    }
    assert.throws(
      () => loadConfig(Settings, { env: { KRBFLEET_NATS_PASSWORD: 'hunter2', KRBFLEET_HTTP_PORT: 'x' } }),
      (err: unknown) =>
        err instanceof ConfigError &&
        !err.message.includes('hunter2') &&
        err.settings.includes('KRBFLEET_HTTP_PORT'),
    )
  })

  test('missing required settings are all named', () => {
    assert.throws(
      () => loadConfig(Settings, { env: {} }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /KRBFLEET_LDAP_URL \(ldap\.url\): is required/.test(err.message) &&
        /KRBFLEET_LDAP_BIND_DN \(ldap\.bindDn\): is required/.test(err.message),
    )
  })

  test('a setting given both directly and as _FILE is refused', () => {
    const secret = join(dir, 'pw')
    writeFileSync(secret, 'x', { mode: 0o600 })
    assert.throws(
      () =>
        loadConfig(Settings, {
          env: { ...base, KRBFLEET_NATS_PASSWORD: 'a', KRBFLEET_NATS_PASSWORD_FILE: secret },
        }),
      /either KRBFLEET_NATS_PASSWORD or KRBFLEET_NATS_PASSWORD_FILE/,
    )
  })
})
