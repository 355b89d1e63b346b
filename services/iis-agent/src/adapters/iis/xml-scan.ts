/**
 * A strict, position-keeping scanner for the XML of IIS configuration files. The file adapter edits
 * applicationHost.config by splicing a few attributes into the original text, so it needs to know
 * exactly where each element and attribute starts and ends; it never re-serialises the document.
 * It checks well-formedness (XML 1.0, https://www.w3.org/TR/xml/): one root, matched tags, unique
 * attribute names, quoted values without `<`, valid character references. A DOCTYPE is refused:
 * IIS files have none, and refusing it rules out entity expansion.
 */

export interface XmlAttribute {
  name: string
  /** The value with its references resolved. */
  value: string
  /** Offset of the first character of the name. */
  start: number
  /** Offset just after the closing quote. */
  end: number
  /** Offsets of the raw value between the quotes. */
  valueStart: number
  valueEnd: number
}

export interface XmlElement {
  name: string
  /** Offset of `<`. */
  start: number
  /** Offset just after the name in the start tag: where the first new attribute goes when there is none. */
  nameEnd: number
  /** Offset just after the `>` of the start tag. */
  openEnd: number
  selfClosing: boolean
  /** Offset of `</` of the end tag (equal to `openEnd` for a self-closing element). */
  closeStart: number
  /** Offset just after the element. */
  end: number
  attributes: XmlAttribute[]
  children: XmlElement[]
  parent: XmlElement | undefined
}

export interface XmlDocument {
  text: string
  root: XmlElement
}

/** The text is not well-formed XML; `offset` locates the fault (never a value from the file). */
export class XmlSyntaxError extends Error {
  readonly offset: number
  readonly line: number
  constructor(text: string, offset: number, what: string) {
    const line = text.slice(0, offset).split('\n').length
    super(`line ${line}: ${what}`)
    this.name = 'XmlSyntaxError'
    this.offset = offset
    this.line = line
  }
}

const NAME = /[\p{L}_:][\p{L}\p{N}\p{Mn}\p{Mc}._:\-\u00B7]*/uy
const SPACE = /[ \t\r\n]*/y
const REFERENCE = /&(?:#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z_][\w.-]*);/y
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

export function parseXml(text: string): XmlDocument {
  let at = text.startsWith('\uFEFF') ? 1 : 0
  let root: XmlElement | undefined
  let current: XmlElement | undefined
  const fail = (offset: number, what: string): never => {
    throw new XmlSyntaxError(text, offset, what)
  }

  const skipSpace = () => {
    SPACE.lastIndex = at
    SPACE.exec(text)
    at = SPACE.lastIndex
  }
  const readName = (what: string): string => {
    NAME.lastIndex = at
    const match = NAME.exec(text)
    if (!match) fail(at, `expected ${what}`)
    at = NAME.lastIndex
    return (match as RegExpExecArray)[0]
  }
  const skipUntil = (terminator: string, what: string) => {
    const found = text.indexOf(terminator, at)
    if (found < 0) fail(at, `${what} is not closed`)
    at = found + terminator.length
  }

  while (at < text.length) {
    const lt = text.indexOf('<', at)
    const textEnd = lt < 0 ? text.length : lt
    checkCharData(text, at, textEnd, current !== undefined, fail)
    at = textEnd
    if (lt < 0) break
    if (text.startsWith('<!--', at)) {
      skipUntil('-->', 'a comment')
    } else if (text.startsWith('<![CDATA[', at)) {
      if (!current) fail(at, 'CDATA outside the root element')
      skipUntil(']]>', 'a CDATA section')
    } else if (text.startsWith('<!', at)) {
      fail(at, 'a DOCTYPE or declaration is not allowed in an IIS configuration file')
    } else if (text.startsWith('<?', at)) {
      const start = at
      at += 2
      const target = readName('a processing instruction target')
      if (target.toLowerCase() === 'xml' && start !== (text.startsWith('\uFEFF') ? 1 : 0)) {
        fail(start, 'the XML declaration must be at the very start of the file')
      }
      skipUntil('?>', 'a processing instruction')
    } else if (text.startsWith('</', at)) {
      const closeStart = at
      at += 2
      const name = readName('an element name')
      skipSpace()
      if (text[at] !== '>') fail(at, `expected ">" to end </${name}`)
      at += 1
      if (!current) fail(closeStart, `</${name}> closes nothing`)
      const open = current as XmlElement
      if (open.name !== name) fail(closeStart, `</${name}> does not match <${open.name}>`)
      open.closeStart = closeStart
      open.end = at
      current = open.parent
    } else {
      const element = readStartTag()
      if (current) current.children.push(element)
      else if (root) fail(element.start, 'a second root element')
      else root = element
      if (!element.selfClosing) current = element
    }
  }
  if (current) fail(text.length, `<${current.name}> is not closed`)
  if (!root) fail(0, 'no root element')
  return { text, root: root as XmlElement }

  function readStartTag(): XmlElement {
    const start = at
    at += 1
    const name = readName('an element name')
    const element: XmlElement = {
      name,
      start,
      nameEnd: at,
      openEnd: 0,
      selfClosing: false,
      closeStart: 0,
      end: 0,
      attributes: [],
      children: [],
      parent: current,
    }
    for (;;) {
      const beforeSpace = at
      skipSpace()
      if (text.startsWith('/>', at) || text[at] === '>') {
        element.selfClosing = text[at] === '/'
        at += element.selfClosing ? 2 : 1
        element.openEnd = at
        if (element.selfClosing) {
          element.closeStart = at
          element.end = at
        }
        return element
      }
      if (at === beforeSpace) fail(at, `expected white space, ">" or "/>" in <${name}>`)
      element.attributes.push(readAttribute(element))
    }
  }

  function readAttribute(element: XmlElement): XmlAttribute {
    const start = at
    const name = readName('an attribute name')
    if (element.attributes.some((a) => a.name === name)) {
      fail(start, `attribute ${name} appears twice in <${element.name}>`)
    }
    skipSpace()
    if (text[at] !== '=') fail(at, `expected "=" after attribute ${name}`)
    at += 1
    skipSpace()
    const quote = text[at]
    if (quote !== '"' && quote !== "'") fail(at, `the value of ${name} must be quoted`)
    const valueStart = at + 1
    const valueEnd = text.indexOf(quote as string, valueStart)
    if (valueEnd < 0) fail(valueStart, `the value of ${name} is not closed`)
    const raw = text.slice(valueStart, valueEnd)
    const lessThan = raw.indexOf('<')
    if (lessThan >= 0) fail(valueStart + lessThan, `"<" in the value of ${name}`)
    at = valueEnd + 1
    return {
      name,
      value: decodeReferences(text, valueStart, valueEnd, fail),
      start,
      end: at,
      valueStart,
      valueEnd,
    }
  }
}

function checkCharData(
  text: string,
  from: number,
  to: number,
  insideRoot: boolean,
  fail: (offset: number, what: string) => never,
): void {
  if (from === to) return
  if (!insideRoot) {
    if (!/^[ \t\r\n]*$/.test(text.slice(from, to))) fail(from, 'text outside the root element')
    return
  }
  decodeReferences(text, from, to, fail)
}

/** Resolves the five predefined entities and character references; refuses any other `&`. */
function decodeReferences(
  text: string,
  from: number,
  to: number,
  fail: (offset: number, what: string) => never,
): string {
  let out = ''
  let at = from
  for (;;) {
    const amp = text.indexOf('&', at)
    if (amp < 0 || amp >= to) return out + text.slice(at, to)
    out += text.slice(at, amp)
    REFERENCE.lastIndex = amp
    const match = REFERENCE.exec(text)
    if (!match || REFERENCE.lastIndex > to) fail(amp, 'a bare "&" (write &amp;)')
    const body = (match as RegExpExecArray)[0].slice(1, -1)
    if (body.startsWith('#')) {
      const code = body.startsWith('#x')
        ? Number.parseInt(body.slice(2), 16)
        : Number.parseInt(body.slice(1), 10)
      if (!(code > 0 && code <= 0x10ffff)) fail(amp, 'a character reference out of range')
      out += String.fromCodePoint(code)
    } else {
      const value = ENTITIES[body]
      if (value === undefined)
        fail(amp, 'an undefined entity (only &amp; &lt; &gt; &quot; &apos; are defined)')
      out += value
    }
    at = REFERENCE.lastIndex
  }
}

/** Escapes a value for a double-quoted attribute. */
export function escapeAttribute(value: string): string {
  return value.replace(/[&<>"\r\n\t]/g, (c) => ESCAPES[c] ?? c)
}

// White space as character references: a literal newline in a value is normalised to a space.
const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  '\r': '&#13;',
  '\n': '&#10;',
  '\t': '&#9;',
}
