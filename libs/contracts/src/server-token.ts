/** Subject-token helpers shared by subjects.ts and envelope.ts (no imports: no cycle). */

const token = /^[A-Za-z0-9_-]+$/

export function checkToken(kind: string, value: string): string {
  if (!token.test(value)) throw new Error(`${kind} '${value}' is not a valid subject token`)
  return value
}

/** An FQDN as one subject token (dots are subject separators; RFC 1123 names have no '_'). */
export function agentToken(server: string): string {
  return checkToken('server', server.toLowerCase().replaceAll('.', '_'))
}

/** The server FQDN back from its subject token (`fe01_corp_example_com` -> `fe01.corp.example.com`). */
export function serverOfToken(value: string): string {
  return checkToken('server', value).replaceAll('_', '.')
}
