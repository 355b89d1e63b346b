/**
 * Escaping of values placed into LDAP filter strings (RFC 4515) and DN strings (RFC 4514).
 * Every value that comes from input goes through one of these; no filter or DN is ever built by
 * pasting an unescaped value into a string.
 */

function hexByte(byte: number): string {
  return `\\${byte.toString(16).padStart(2, '0')}`
}

/**
 * RFC 4515 section 3: in a filter's assertion value, `*`, `(`, `)`, `\` and NUL must be written as
 * `\2a`, `\28`, `\29`, `\5c`, `\00`. A Buffer (objectGUID, objectSid) is written byte by byte.
 */
export function escapeFilterValue(value: string | Uint8Array): string {
  if (typeof value !== 'string') return Array.from(value, hexByte).join('')
  let out = ''
  for (const char of value) {
    switch (char) {
      case '*':
        out += '\\2a'
        break
      case '(':
        out += '\\28'
        break
      case ')':
        out += '\\29'
        break
      case '\\':
        out += '\\5c'
        break
      case '\0':
        out += '\\00'
        break
      default:
        out += char
    }
  }
  return out
}

/** The characters RFC 4514 section 2.4 escapes with a backslash wherever they appear. */
const dnSpecial = new Set(['"', '+', ',', ';', '<', '>', '\\', '='])

/**
 * RFC 4514 section 2.4: escapes an attribute value for use in a DN (`CN=<value>,OU=...`).
 * `"` `+` `,` `;` `<` `>` `\` get a backslash, so does `=` (RFC 4514 allows it and Active Directory
 * writes it so); a leading `#` or space and a trailing space are escaped; control characters
 * (NUL, CR, LF ...) become `\hh`, which Active Directory requires for CR and LF
 * (https://learn.microsoft.com/en-us/previous-versions/windows/desktop/ldap/distinguished-names).
 */
export function escapeDnValue(value: string): string {
  const chars = Array.from(value)
  let out = ''
  chars.forEach((char, index) => {
    const code = char.codePointAt(0) ?? 0
    if (dnSpecial.has(char)) out += `\\${char}`
    else if (code < 0x20 || code === 0x7f) out += hexByte(code)
    else if (index === 0 && (char === '#' || char === ' ')) out += `\\${char}`
    else if (index === chars.length - 1 && char === ' ') out += '\\ '
    else out += char
  })
  return out
}
