/**
 * Edits of an XML text as splices at the positions xml-scan found: a changed attribute replaces
 * only its value, a new attribute or element is inserted, and every other byte of the file stays
 * as it was (comments, white space, line endings, attribute order and quoting).
 */
import { escapeAttribute, type XmlAttribute, type XmlDocument, type XmlElement } from './xml-scan.ts'

export interface TextEdit {
  start: number
  end: number
  text: string
}

/** An element to insert, rendered in the layout of the file around it. */
export interface NewElement {
  name: string
  attributes: ReadonlyArray<readonly [string, string]>
  children?: readonly NewElement[]
}

export function attributeOf(element: XmlElement, name: string): XmlAttribute | undefined {
  return element.attributes.find((a) => a.name === name)
}

export function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c) => c.name === name)
}

/**
 * Edits that give `element` these attribute values (`undefined` removes the attribute). A value
 * already equal (after reference decoding) produces no edit, so re-applying changes no byte.
 */
export function setAttributes(
  doc: XmlDocument,
  element: XmlElement,
  values: ReadonlyArray<readonly [string, string | undefined]>,
): TextEdit[] {
  const edits: TextEdit[] = []
  let added = ''
  for (const [name, value] of values) {
    const existing = attributeOf(element, name)
    if (value === undefined) {
      if (existing) edits.push({ start: spaceBefore(doc.text, existing.start), end: existing.end, text: '' })
    } else if (!existing) {
      added += ` ${name}="${escapeAttribute(value)}"`
    } else if (existing.value !== value) {
      edits.push({ start: existing.valueStart, end: existing.valueEnd, text: escapeAttribute(value) })
    }
  }
  if (added) {
    const at = element.attributes.at(-1)?.end ?? element.nameEnd
    edits.push({ start: at, end: at, text: added })
  }
  return edits
}

/**
 * An edit that appends `children` after the last child of `parent`, indented like the file around
 * it. All insertions into one parent go in one edit (two edits at one offset would be ambiguous).
 */
export function appendChildren(
  doc: XmlDocument,
  parent: XmlElement,
  children: readonly NewElement[],
): TextEdit {
  const { text } = doc
  const { eol, step } = layoutOf(doc)
  const indent = indentAt(text, parent.start) ?? ''
  const lines = (base: string) =>
    children.map((c) => `${eol}${base}${step}${render(c, base + step, step, eol)}`).join('')
  if (parent.selfClosing) {
    // `<add name="x" />` becomes `<add name="x">` + the children + `</add>`.
    const from = parent.attributes.at(-1)?.end ?? parent.nameEnd
    return { start: from, end: parent.openEnd, text: `>${lines(indent)}${eol}${indent}</${parent.name}>` }
  }
  const closeIndent = indentAt(text, parent.closeStart)
  if (closeIndent !== undefined) {
    // The end tag stands on its own line: the new lines go before it, the end tag keeps its indent.
    const lineStart = parent.closeStart - closeIndent.length
    return { start: lineStart, end: lineStart, text: `${lines(closeIndent).slice(eol.length)}${eol}` }
  }
  return { start: parent.closeStart, end: parent.closeStart, text: `${lines(indent)}${eol}${indent}` }
}

/** Applies non-overlapping edits (offsets in the original text) from the end backwards. */
export function applyEdits(text: string, edits: readonly TextEdit[]): string {
  const sorted = [...edits].sort((a, b) => b.start - a.start || b.end - a.end)
  for (let i = 1; i < sorted.length; i++) {
    const later = sorted[i - 1] as TextEdit
    const earlier = sorted[i] as TextEdit
    if (earlier.end > later.start || earlier.start === later.start) {
      throw new Error(`overlapping edits at offsets ${earlier.start} and ${later.start}`)
    }
  }
  let out = text
  for (const edit of sorted) out = out.slice(0, edit.start) + edit.text + out.slice(edit.end)
  return out
}

export interface Layout {
  eol: string
  /** One level of indentation, as the file uses it (IIS writes four spaces). */
  step: string
}

export function layoutOf(doc: XmlDocument): Layout {
  const eol = doc.text.includes('\r\n') ? '\r\n' : '\n'
  return { eol, step: indentStep(doc) ?? '    ' }
}

function indentStep(doc: XmlDocument): string | undefined {
  const queue: XmlElement[] = [doc.root]
  while (queue.length > 0) {
    const element = queue.shift() as XmlElement
    const outer = indentAt(doc.text, element.start)
    for (const child of element.children) {
      const inner = indentAt(doc.text, child.start)
      if (
        outer !== undefined &&
        inner !== undefined &&
        inner.length > outer.length &&
        inner.startsWith(outer)
      ) {
        return inner.slice(outer.length)
      }
      queue.push(child)
    }
  }
  return undefined
}

/** The white space between the start of the line and `offset`, or undefined when other text precedes it. */
function indentAt(text: string, offset: number): string | undefined {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1
  const before = text.slice(lineStart, offset)
  return /^[ \t]*$/.test(before) ? before : undefined
}

/** Where the white space in front of `offset` begins (to remove an attribute with its separator). */
function spaceBefore(text: string, offset: number): number {
  let at = offset
  while (at > 0 && ' \t\r\n'.includes(text[at - 1] as string)) at--
  return at
}

function render(element: NewElement, indent: string, step: string, eol: string): string {
  const attributes = element.attributes
    .map(([name, value]) => ` ${name}="${escapeAttribute(value)}"`)
    .join('')
  const children = element.children ?? []
  if (children.length === 0) return `<${element.name}${attributes} />`
  const inner = children.map((c) => `${eol}${indent}${step}${render(c, indent + step, step, eol)}`).join('')
  return `<${element.name}${attributes}>${inner}${eol}${indent}</${element.name}>`
}
