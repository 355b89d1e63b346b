import { Attribute, Change } from 'ldapts'
import { parseDn } from '../../domain/dn.ts'
import { encodeUnicodePwd } from '../../domain/password.ts'
import type { LdapConnection } from './connection.ts'

/**
 * Resets an account's password: a unicodePwd replace (MS-ADTS 3.1.1.3.1.5.1), which the DC takes
 * only over an encrypted connection and which bumps msDS-KeyVersionNumber by one.
 */
export async function setPassword(connection: LdapConnection, dn: string, password: string): Promise<void> {
  // Checked before anything else, so nothing at all reaches an unencrypted connection.
  connection.refuseUnlessEncrypted('set the password', dn)
  parseDn(dn)
  const value = encodeUnicodePwd(password)
  const change = new Change({
    operation: 'replace',
    modification: new Attribute({ type: 'unicodePwd', values: [value] }),
  })
  // Passed as a secret: DC text that echoes it is scrubbed from the error message.
  await connection.run('set password of', dn, (c) => c.modify(dn, change), [password])
}
