import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { streams } from '@krbfleet/contracts'
import { JetStreamApiError } from '@nats-io/jetstream'
import { NoRespondersError, PermissionViolationError, RequestError, TimeoutError } from '@nats-io/nats-core'
import {
  compareVersions,
  consumerConfig,
  consumerDrift,
  doublingRedeliveryBackoff,
  isTransientNatsError,
  streamConfig,
  streamDrift,
  toBusError,
  withoutCredentials,
} from '../src/index.ts'

describe('bus pure helpers', () => {
  test('streamConfig uses only nats-server 2.9 options and file storage', () => {
    const config = streamConfig(streams.events)
    assert.deepEqual(Object.keys(config).sort(), [
      'description',
      'discard',
      'duplicate_window',
      'max_age',
      'max_bytes',
      'max_msg_size',
      'max_msgs',
      'name',
      'num_replicas',
      'retention',
      'storage',
      'subjects',
    ])
    assert.equal(config.storage, 'file')
    assert.equal(config.duplicate_window, streams.events.duplicateWindowMs * 1e6)
    assert.equal(config.max_bytes, streams.events.limits.maxBytes)
    assert.equal(config.discard, 'old')
    const overridden = streamConfig(streams.events, 1, {
      ...streams.events.limits,
      discard: 'new',
      maxMessages: 7,
    })
    assert.equal(overridden.max_msgs, 7)
    assert.equal(overridden.discard, 'new')
  })

  test('streamDrift names what differs and ignores subject order', () => {
    const wanted = streamConfig(streams.events)
    assert.deepEqual(streamDrift(wanted, { ...wanted }), [])
    assert.deepEqual(
      streamDrift({ ...wanted, subjects: ['a', 'b'] }, { ...wanted, subjects: ['b', 'a'] }),
      [],
    )
    assert.deepEqual(streamDrift(wanted, { ...wanted, max_age: 1, description: 'x' }), [
      'max_age',
      'description',
    ])
  })

  test('consumerConfig and consumerDrift', () => {
    const wanted = consumerConfig({
      durable: 'd',
      filterSubject: 'krbfleet.events.>',
      ackWaitMs: 30_000,
      maxDeliver: 20,
      redeliveryBackoffMs: [],
    })
    assert.equal(wanted.ack_wait, 30_000 * 1e6)
    assert.equal('backoff' in wanted, false)
    assert.deepEqual(consumerDrift(wanted, { ...wanted }), [])
    assert.deepEqual(consumerDrift(wanted, { ...wanted, filter_subject: 'x', max_deliver: 3 }), [
      'filter_subject',
      'max_deliver',
    ])
    assert.deepEqual(doublingRedeliveryBackoff(1000, 20), [1000, 2000, 4000, 8000, 16000])
    assert.deepEqual(doublingRedeliveryBackoff(1000, 3), [1000, 2000])
  })

  test('server URLs lose their credentials before they reach a message', () => {
    assert.equal(withoutCredentials('nats://svc:hunter2@hub:4222'), 'nats://***@hub:4222')
    assert.equal(withoutCredentials('tls://token@hub:4222'), 'tls://***@hub:4222')
    assert.equal(withoutCredentials('nats://hub:4222'), 'nats://hub:4222')
  })

  test('compareVersions orders numerically', () => {
    assert.equal(compareVersions('2.9.10', '2.10.0'), -1)
    assert.equal(compareVersions('2.12.1', '2.10.0'), 1)
    assert.equal(compareVersions('v2.10.0-beta.1', '2.10.0'), 0)
  })

  test('transient NATS errors retry, others do not', () => {
    assert.equal(isTransientNatsError(new TimeoutError()), true)
    assert.equal(isTransientNatsError(new RequestError('x', { cause: new NoRespondersError('s') })), true)
    assert.equal(isTransientNatsError(new PermissionViolationError('no', 'publish', 's')), false)
    assert.equal(isTransientNatsError(new Error('other')), false)
    const apiError = new JetStreamApiError({ code: 400, err_code: 10058, description: 'stream name in use' })
    assert.equal(isTransientNatsError(apiError), false)
    assert.equal(toBusError(new TimeoutError(), 'publish').code, 'timeout')
    assert.equal(toBusError(new PermissionViolationError('no', 'publish', 's'), 'publish').code, 'forbidden')
    assert.equal(toBusError(new RequestError('x'), 'publish').code, 'unavailable')
  })

  test('a JetStream API request refused by permissions is forbidden and permanent, not an outage', () => {
    const violation = new PermissionViolationError(
      'Permissions Violation',
      'publish',
      '$JS.API.STREAM.CREATE.KRBFLEET_EVENTS',
    )
    const refused = new RequestError('Permissions Violation for Publish', { cause: violation })
    assert.equal(isTransientNatsError(refused), false)
    const error = toBusError(refused, 'ensureStreams')
    assert.equal(error.code, 'forbidden')
    assert.equal(error.retryable, false)
    assert.match(error.message, /may not publish on \$JS\.API\.STREAM\.CREATE\.KRBFLEET_EVENTS/)
  })
})
