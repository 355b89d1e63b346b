import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatEvent } from '../src/commands/events.ts'

const base = {
  seq: 7,
  id: 'credential-staged-x',
  occurredAt: '2026-12-08T10:00:00.000Z',
  actor: 'agent:fe01.corp.example.com',
  correlationId: 'rot-20261208T100000-0a1b2c3d',
  causationId: null,
}

describe('krbfleet events, one line per event', () => {
  it('shows the kvnos an install report or a heartbeat says the server holds, per account', () => {
    assert.equal(
      formatEvent({
        ...base,
        type: 'krbfleet.agent.CredentialStaged.v1',
        data: {
          server: 'fe01.corp.example.com',
          account: 'CORP\\KERBAUTH',
          kvno: 4,
          held: [
            { account: 'CORP\\KERBAUTH', kvno: 4 },
            { account: 'CORP\\KERBAUTH', kvno: 3 },
            { account: 'CORP\\OTHER', kvno: 2 },
          ],
        },
      }),
      '2026-12-08T10:00:00.000Z  agent.CredentialStaged  server=fe01.corp.example.com account=CORP\\KERBAUTH kvno=4 held=CORP\\KERBAUTH:4,3;CORP\\OTHER:2  by agent:fe01.corp.example.com (rot-20261208T100000-0a1b2c3d)',
    )
    assert.match(
      formatEvent({
        ...base,
        type: 'krbfleet.agent.AgentHeartbeat.v1',
        correlationId: base.id,
        data: { server: 'fe01.corp.example.com', backend: 'keytab', kvnos: [], health: { ok: true } },
      }),
      / kvnos=- health=\{"ok":true\} {2}by agent:fe01\.corp\.example\.com$/,
    )
  })

  it('shows any other list or object as JSON, an empty list as -', () => {
    assert.match(
      formatEvent({
        ...base,
        type: 'krbfleet.spn.SpnsChanged.v1',
        data: { account: 'CORP\\KERBAUTH', added: ['HTTP/web.corp'], removed: [], revision: 3 },
      }),
      / added=\["HTTP\/web\.corp"\] removed=- revision=3 {2}by /,
    )
  })
})
