import { type Logger, type LoggerOptions, pino } from 'pino'

export type { Logger } from 'pino'

/**
 * Paths that may hold a secret anywhere in a log record. pino's redact censors them before the
 * record is serialised (STYLE rule 7); code must still never log a secret on purpose.
 */
const secretKeys = [
  'password',
  'pass',
  'newPassword',
  'secret',
  'token',
  'authorization',
  'keyEncryptionKey',
  'kek',
  'privateKey',
  'keys',
  'sealed',
  'unicodePwd',
]

export const redactPaths = [
  // at the top of a record, one and two levels down (`err.details.password`, `config.ldap.password`)
  ...secretKeys,
  ...secretKeys.map((key) => `*.${key}`),
  ...secretKeys.map((key) => `*.*.${key}`),
  'req.headers.authorization',
  'req.headers.cookie',
]

export interface CreateLoggerOptions {
  /** The service or tool name, added to every record. */
  name: string
  level?: string
  /** Where records go; stdout by default. Tests pass a stream to read what was logged. */
  destination?: NodeJS.WritableStream
}

/** The one logger of a process (created in main.ts, passed down; children per component). */
export function createLogger(options: CreateLoggerOptions): Logger {
  const settings: LoggerOptions = {
    name: options.name,
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: redactPaths, censor: '[redacted]' },
    base: { service: options.name, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  }
  return options.destination
    ? pino(settings, options.destination as pino.DestinationStream)
    : pino(settings, pino.destination({ sync: false }))
}

/** A logger that writes nothing, for pure unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
