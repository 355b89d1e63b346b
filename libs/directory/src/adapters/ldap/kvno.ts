import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { LdapConnection } from './connection.ts'
import { read } from './reads.ts'

/** msDS-KeyVersionNumber, the kvno of the account's current keys (what a keytab entry must carry). */
export async function readKvno(connection: LdapConnection, dn: string): Promise<number> {
  // Constructed attribute (MS-ADTS 3.1.1.4.5.x): returned only when asked for by name.
  const entry = await read(connection, dn, ['msDS-KeyVersionNumber'])
  if (!entry) {
    throw new KrbfleetError(ErrorCode.NotFound, `LDAP read kvno of ${dn}: no such entry`, { details: { dn } })
  }
  const kvno = entry.integer('msDS-KeyVersionNumber')
  if (kvno === undefined) {
    throw new KrbfleetError(
      ErrorCode.NotFound,
      `${dn} has no msDS-KeyVersionNumber (not an account with keys)`,
      {
        details: { dn },
      },
    )
  }
  return kvno
}
