/**
 * The rights each krbfleet service needs in AD, delegated on the OU of krbfleet's accounts only, as
 * SDDL ACEs for `samba-tool dsacl set --objectdn=<OU> --action=allow --sddl=<ACE>` (or dsacls /
 * the delegation wizard on Windows). Verified on Samba by the least-privilege tests; the GUIDs are
 * MS-ADSC's schemaIDGUIDs and MS-ADTS's extended rights (read back from the DC's schema).
 */
export const adSchemaGuids = {
  /** The computer object class. */
  computerClass: 'bf967a86-0de6-11d0-a285-00aa003049e2',
  /** User-Force-Change-Password: the Reset Password extended right. */
  resetPasswordRight: '00299570-246d-11d0-a768-00aa006e0529',
  servicePrincipalName: 'f3a64788-5306-11d1-a9c5-0000f80367c1',
  msDsSupportedEncryptionTypes: '20119867-1d04-4ab7-9371-cfc3d5df0afd',
} as const

const { computerClass, resetPasswordRight, servicePrincipalName, msDsSupportedEncryptionTypes } =
  adSchemaGuids

/**
 * The account service: create and delete computer objects in the OU, reset their passwords, and
 * write their msDS-SupportedEncryptionTypes (the sweep restores types changed by hand; the
 * creator's own rights do not cover that attribute).
 */
export function accountServiceAces(sid: string): string[] {
  return [
    `(OA;CI;CCDC;${computerClass};;${sid})`,
    `(OA;CIIO;CR;${resetPasswordRight};${computerClass};${sid})`,
    `(OA;CIIO;WP;${msDsSupportedEncryptionTypes};${computerClass};${sid})`,
  ]
}

/**
 * spn-sync: write servicePrincipalName on computer objects in the OU (the creator's validated write
 * accepts only SPNs of the account's own host names, not pool names).
 */
export function spnSyncAces(sid: string): string[] {
  return [`(OA;CIIO;WP;${servicePrincipalName};${computerClass};${sid})`]
}
