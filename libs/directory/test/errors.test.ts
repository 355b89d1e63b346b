import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import {
  AlreadyExistsError,
  BusyError,
  ConstraintViolationError,
  InsufficientAccessError,
  InvalidCredentialsError,
  NoSuchObjectError,
  ObjectClassViolationError,
  StrongAuthRequiredError,
  TypeOrValueExistsError,
  UnavailableError,
  UnwillingToPerformError,
} from 'ldapts'
import { mapLdapError, SpnConflictError, spnFromConflictMessage } from '../src/index.ts'

const ctx = { operation: 'modify', dn: 'CN=KERBAUTH,CN=Computers,DC=corp,DC=example,DC=com' }

function socketError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code })
}

describe('mapLdapError', () => {
  it("keeps the DC's own text out of the caller's message and on the error's log context", () => {
    const samba = [
      [
        new ObjectClassViolationError(
          '00002037: structural objectClass computer is not a valid child class of user',
        ),
        ErrorCode.Invalid,
        /the container does not accept this kind of object: name an OU or a container such as CN=Computers$/,
      ],
      [
        new InsufficientAccessError('00002098: acl: unable to get access to CN=x,DC=corp,DC=example,DC=com'),
        ErrorCode.InsufficientRights,
        /the bound identity lacks the right to do this$/,
      ],
      [
        new ConstraintViolationError('0000202F: samldb: spn[HTTP/a.corp.example.com] would cause a conflict'),
        ErrorCode.SpnConflict,
        /HTTP\/a\.corp\.example\.com is already held by another account$/,
      ],
    ] as const
    for (const [dcError, code, message] of samba) {
      const err = mapLdapError(dcError, ctx)
      assert.equal(err.code, code)
      assert.match(err.message, message)
      assert.doesNotMatch(err.message, /0000|acl:|samldb|objectClass/, err.message)
      assert.doesNotMatch(JSON.stringify(err.toWire()), /0000|acl:|samldb|objectClass/)
      assert.equal(err.logContext?.dcText, dcError.message.replace(/\s*Code: 0x[0-9a-f]+\s*$/i, '').trim())
    }
  })

  it("turns Samba's 0000202F constraint violation into SpnConflictError naming the SPN", () => {
    const err = mapLdapError(
      new ConstraintViolationError(
        '0000202F: samldb: spn[HTTP/pool01.corp.example.com] would cause a conflict',
      ),
      ctx,
    )
    assert.ok(err instanceof SpnConflictError)
    assert.equal(err.code, ErrorCode.SpnConflict)
    assert.equal(err.spn, 'HTTP/pool01.corp.example.com')
    assert.equal(err.details?.spn, 'HTTP/pool01.corp.example.com')
    assert.equal(err.details?.ldapCode, 19)
    assert.equal(err.retryable, false)
    assert.equal(err.httpStatus, 409)
  })

  it('reads the SPN from either message form', () => {
    assert.equal(spnFromConflictMessage('00002175: spn HOST/x.corp would cause a conflict'), 'HOST/x.corp')
    assert.equal(spnFromConflictMessage('something else'), undefined)
  })

  it('maps each result code once, keeping the code in details', () => {
    const cases: Array<[Error, ErrorCode, boolean]> = [
      [new AlreadyExistsError('00002071: entry exists'), ErrorCode.AlreadyExists, false],
      [new NoSuchObjectError('0000208D: no object'), ErrorCode.NotFound, false],
      [new InsufficientAccessError('00002098: no write access'), ErrorCode.InsufficientRights, false],
      [new BusyError('busy'), ErrorCode.Unavailable, true],
      [new UnavailableError('unavailable'), ErrorCode.Unavailable, true],
      [new UnwillingToPerformError('0000001F: SvcErr: DSID-031A12D2'), ErrorCode.RuleViolation, false],
      [new TypeOrValueExistsError('attribute or value exists'), ErrorCode.Conflict, false],
      [
        new StrongAuthRequiredError('BindSimple: Transport encryption required.'),
        ErrorCode.InsecureConnection,
        false,
      ],
      [new ConstraintViolationError('00002082: spn validation failed'), ErrorCode.InsufficientRights, false],
      [new ConstraintViolationError('0000052D: password too short'), ErrorCode.RuleViolation, false],
    ]
    for (const [input, code, retryable] of cases) {
      const err = mapLdapError(input, ctx)
      assert.equal(err.code, code, input.message)
      assert.equal(err.retryable, retryable, input.message)
      assert.equal(typeof err.details?.ldapCode, 'number')
      assert.match(err.message, /CN=KERBAUTH/)
    }
  })

  it('maps invalid credentials to a permanent unauthorized error that never holds the password', () => {
    const password = 'S3cret-Pa55!'
    const err = mapLdapError(
      new InvalidCredentialsError(
        `80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e ${password}`,
      ),
      { operation: 'bind as', dn: 'CN=svc,DC=corp', secrets: [password] },
    )
    assert.equal(err.code, ErrorCode.Unauthorized)
    assert.equal(err.retryable, false)
    assert.ok(!err.message.includes(password))
    assert.ok(!JSON.stringify(err.toWire()).includes(password))
  })

  it('maps lost, refused and reset connections to retryable unavailable', () => {
    for (const input of [
      socketError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.3:636'),
      socketError('ECONNRESET', 'read ECONNRESET'),
      new Error('Connection closed before message response was received. Message type: SearchRequest (0x63)'),
      new Error('Socket error. Message type: ModifyRequest (0x66)\nwrite EPIPE'),
    ]) {
      const err = mapLdapError(input, ctx)
      assert.equal(err.code, ErrorCode.Unavailable, input.message)
      assert.equal(err.retryable, true)
    }
    const timeout = mapLdapError(new Error('SearchRequest: Operation timed out'), ctx)
    assert.equal(timeout.code, ErrorCode.Timeout)
    assert.equal(timeout.retryable, true)
  })

  it('maps an untrusted certificate to a permanent insecure_connection error', () => {
    const err = mapLdapError(
      socketError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'),
      ctx,
    )
    assert.equal(err.code, ErrorCode.InsecureConnection)
    assert.equal(err.retryable, false)
  })

  it('passes krbfleet errors through and hides nothing else as success', () => {
    const mine = new KrbfleetError(ErrorCode.Invalid, 'bad')
    assert.equal(mapLdapError(mine, ctx), mine)
    const unknown = mapLdapError('weird', ctx)
    assert.equal(unknown.code, ErrorCode.Internal)
  })
})
