import { readFile, stat } from 'node:fs/promises'
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import { parseTokenRecords, type TokenRecord } from '../../domain/auth.ts'

/** How errors name the setting, as libs/runtime loadConfig does for the other settings. */
const setting = 'KRBFLEET_CONSOLE_TOKENS_FILE (console.tokensFile)'

/**
 * Reads the configured tokens: a JSON file `[{name, role, sha256}]`. Only hashes are stored, but
 * a world-writable file would let anyone add an admin token, so that is refused.
 */
export async function loadTokensFile(path: string): Promise<TokenRecord[]> {
  let text: string
  try {
    const info = await stat(path)
    if (info.mode & 0o002) {
      throw new KrbfleetError(
        ErrorCode.Invalid,
        `${setting}: tokens file ${path} is world-writable; chmod 0600 it`,
        {
          field: 'tokensFile',
        },
      )
    }
    text = await readFile(path, 'utf8')
  } catch (err) {
    if (err instanceof KrbfleetError) throw err
    throw new KrbfleetError(
      ErrorCode.Invalid,
      `${setting}: tokens file ${path} cannot be read: ${(err as Error).message}`,
      {
        field: 'tokensFile',
      },
    )
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new KrbfleetError(ErrorCode.Invalid, `${setting}: tokens file ${path} is not JSON`, {
      field: 'tokensFile',
    })
  }
  return parseTokenRecords(value)
}
