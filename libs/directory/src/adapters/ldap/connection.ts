import * as net from 'node:net'
import * as tls from 'node:tls'
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { Logger } from '@krbfleet/logging'
import { Client } from 'ldapts'
import { mapLdapError } from '../../domain/errors.ts'
import type { ConnectionPlan, LdapObserver } from './connect-options.ts'

interface Session {
  client: Client
  /** alive turns false once any socket of this session closed or failed: the next call opens a new session. */
  state: { alive: boolean }
  sockets: net.Socket[]
}

/**
 * One bound, encrypted (or, when allowed, plain) LDAP connection to a DC. A lost connection is
 * noticed by the next operation, which opens a fresh session (connect, StartTLS, bind); the
 * operation that was in flight fails `unavailable`.
 */
export class LdapConnection {
  readonly url: string
  /** True for LDAPS and StartTLS; password writes happen only then. */
  readonly encrypted: boolean
  readonly #plan: ConnectionPlan
  readonly #logger: Logger | undefined
  readonly #observe: LdapObserver
  #session: Session | undefined
  #opening: Promise<Session> | undefined
  #closed = false

  constructor(plan: ConnectionPlan, logger: Logger | undefined, observe: LdapObserver = () => {}) {
    this.#observe = observe
    this.#plan = plan
    this.url = plan.url
    this.encrypted = plan.tls !== undefined
    this.#logger = logger?.child({ component: 'directory', url: plan.url })
  }

  /** Runs one LDAP operation and maps its failure; a lost connection drops the session. */
  async run<T>(
    operation: string,
    dn: string | undefined,
    work: (client: Client) => Promise<T>,
    secrets?: string[],
  ): Promise<T> {
    const started = performance.now()
    const client = await this.#client()
    try {
      const result = await work(client)
      const ms = performance.now() - started
      this.#logger?.debug({ operation, dn, ms: Math.round(ms) }, 'LDAP operation')
      this.#observe(operation, ms / 1000, 'ok')
      return result
    } catch (err) {
      const context = { operation, ...(dn === undefined ? {} : { dn }), ...(secrets ? { secrets } : {}) }
      const mapped = mapLdapError(err, context)
      this.#observe(operation, (performance.now() - started) / 1000, mapped.code)
      if (mapped.code === ErrorCode.Unavailable || mapped.code === ErrorCode.Timeout) {
        const session = this.#session
        if (session && session.client === client) this.#discard(session)
      }
      this.#logger?.debug(
        { operation, dn, code: mapped.code, ldapCode: mapped.details?.ldapCode },
        'LDAP operation failed',
      )
      throw mapped
    }
  }

  /**
   * Throws insecure_connection unless the connection is encrypted. Callers check before building
   * the request, so nothing of a password ever reaches a plain connection (Samba can be configured
   * to accept one in clear; Windows cannot).
   */
  refuseUnlessEncrypted(what: string, dn: string): void {
    if (!this.encrypted) {
      throw new KrbfleetError(
        ErrorCode.InsecureConnection,
        `refusing to ${what} of ${dn}: the connection to ${this.url} is not encrypted (use ldaps:// or StartTLS)`,
        { retryable: false, details: { dn } },
      )
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const session = this.#session ?? (await this.#opening?.catch(() => undefined))
    this.#session = undefined
    if (!session) return
    if (session.state.alive) {
      // A polite unbind (RFC 4511 4.3), but never waiting long for a DC that does not answer.
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        session.client.unbind().catch(() => {}),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, 1000)
        }),
      ])
      clearTimeout(timer)
    }
    session.state.alive = false
    for (const socket of session.sockets) socket.destroy()
    this.#logger?.debug('LDAP connection closed')
  }

  /** A bound session, opening one when there is none or the last one lost its connection. */
  async #client(): Promise<Client> {
    if (this.#closed) {
      throw new KrbfleetError(ErrorCode.Unavailable, `the directory connection to ${this.url} is closed`, {
        retryable: false,
      })
    }
    const session = this.#session
    if (session?.state.alive && session.client.isBound) return session.client
    if (session) {
      this.#logger?.warn('LDAP connection lost; reconnecting')
      this.#discard(session)
    }
    this.#opening ??= this.#open().finally(() => {
      this.#opening = undefined
    })
    return (await this.#opening).client
  }

  async #open(): Promise<Session> {
    const { url, ldaps, startTls, bindDn, password, timeoutMs } = this.#plan
    const state = { alive: true }
    const sockets: net.Socket[] = []
    const watch = <S extends net.Socket>(socket: S): S => {
      sockets.push(socket)
      const dead = () => {
        state.alive = false
      }
      // `on`, not `once`: a socket that errors twice must never find no 'error' listener.
      socket.on('close', dead)
      socket.on('end', dead)
      socket.on('error', dead)
      return socket
    }
    // ldapts reconnects on its own when a socket closed, but in clear and without StartTLS or
    // bind. Each session therefore allows exactly one plain and one TLS socket; a second attempt
    // fails and the next call of ours opens a fresh, upgraded and bound session.
    let plainSockets = 0
    let tlsSockets = 0
    const createConnection = ((port: number, host: string) => {
      if (plainSockets++ > 0) throw new Error('connection closed; not reconnecting inside a session')
      return watch(net.connect(port, host))
    }) as typeof net.connect
    // ldapts calls this with (port, host, options) for ldaps:// and with (options) for StartTLS.
    const createSecureConnection = ((...args: unknown[]) => {
      if (tlsSockets++ > 0) throw new Error('connection closed; not reconnecting inside a session')
      const socket =
        typeof args[0] === 'number'
          ? tls.connect(args[0], args[1] as string, args[2] as tls.ConnectionOptions)
          : tls.connect(args[0] as tls.ConnectionOptions)
      return watch(socket)
    }) as typeof tls.connect
    const client = new Client({
      url,
      timeout: timeoutMs,
      connectTimeout: timeoutMs,
      createConnection,
      createSecureConnection,
      ...(ldaps ? { tlsOptions: this.#plan.tls } : {}),
    })
    const session: Session = { client, state, sockets }
    try {
      if (startTls) await client.startTLS({ ...this.#plan.tls })
      await client.bind(bindDn, password)
    } catch (err) {
      state.alive = false
      for (const socket of sockets) socket.destroy()
      throw mapLdapError(err, {
        operation: startTls ? 'StartTLS and bind as' : 'bind as',
        dn: bindDn,
        secrets: [password],
      })
    }
    this.#session = session
    this.#logger?.info({ encrypted: this.encrypted, startTls }, 'LDAP connection bound')
    return session
  }

  /**
   * Drops a session whose connection failed. No unbind: after StartTLS ldapts may still think a
   * dead connection is up, and an unbind written to it would wait for the operation timeout.
   */
  #discard(session: Session): void {
    session.state.alive = false
    if (this.#session === session) this.#session = undefined
    for (const socket of session.sockets) socket.destroy()
  }
}
