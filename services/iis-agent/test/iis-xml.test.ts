import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { FileChangedError, replaceFile } from '../src/adapters/fs/atomic-file.ts'
import { appendChildren, applyEdits, setAttributes } from '../src/adapters/iis/xml-edit.ts'
import { parseXml, XmlSyntaxError } from '../src/adapters/iis/xml-scan.ts'

// The scanner and the splicing edits the file adapter is built on (pure), and the atomic replace.
describe('iis xml scanner', () => {
  it('given nested elements, then positions point at the exact text of each element and attribute', () => {
    const text = `\uFEFF<?xml version="1.0"?>\n<!-- c -->\n<a x='1' y = "&lt;&#65;&#x42;">\n  <b/>\n  <![CDATA[<x>]]>\n</a>\n`
    const { root } = parseXml(text)
    assert.equal(
      text.slice(root.start, root.end),
      `<a x='1' y = "&lt;&#65;&#x42;">\n  <b/>\n  <![CDATA[<x>]]>\n</a>`,
    )
    const [x, y] = root.attributes
    assert.equal(x?.value, '1')
    assert.equal(y?.value, '<AB')
    assert.equal(text.slice(y?.start, y?.end), 'y = "&lt;&#65;&#x42;"')
    const b = root.children[0]
    assert.equal(b?.selfClosing, true)
    assert.equal(text.slice(b?.start, b?.end), '<b/>')
  })

  for (const bad of [
    '<a>',
    '<a></b>',
    '<a x="1" x="2"/>',
    '<a x=1/>',
    '<a>&nbsp;</a>',
    '<a/><b/>',
    'x<a/>',
    '<a x="<"/>',
  ]) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseXml(bad), XmlSyntaxError)
    })
  }

  it('names the line of the fault', () => {
    assert.throws(
      () => parseXml('<a>\r\n<b>\r\n</c>\r\n</a>'),
      /^XmlSyntaxError: line 3: <\/c> does not match <b>/,
    )
  })
})

describe('iis xml edits', () => {
  it('sets, adds and removes attributes in place and keeps everything else', () => {
    const doc = parseXml('<a>\n\t<b  keep = "1"\n     old="x" gone="y" />\n</a>')
    const b = doc.root.children[0]!
    const edits = setAttributes(doc, b, [
      ['old', 'new & "quoted"'],
      ['gone', undefined],
      ['keep', '1'],
      ['added', 'v'],
    ])
    assert.equal(
      applyEdits(doc.text, edits),
      '<a>\n\t<b  keep = "1"\n     old="new &amp; &quot;quoted&quot;" added="v" />\n</a>',
    )
  })

  it('appends children into a self-closing element and before an end tag, in the file layout', () => {
    const doc = parseXml('<r>\r\n  <p />\r\n  <q>\r\n    <x />\r\n  </q>\r\n</r>')
    const [p, q] = doc.root.children
    const child = { name: 'c', attributes: [['k', 'v']] as const }
    const text = applyEdits(doc.text, [
      appendChildren(doc, p!, [child]),
      appendChildren(doc, q!, [child, child]),
    ])
    assert.equal(
      text,
      '<r>\r\n  <p>\r\n    <c k="v" />\r\n  </p>\r\n  <q>\r\n    <x />\r\n    <c k="v" />\r\n    <c k="v" />\r\n  </q>\r\n</r>',
    )
  })

  it('refuses overlapping edits', () => {
    assert.throws(
      () =>
        applyEdits('abc', [
          { start: 0, end: 2, text: '' },
          { start: 1, end: 3, text: '' },
        ]),
      /overlapping/,
    )
  })
})

describe('iis atomic replace', () => {
  it('given the file changed since it was read, then nothing is written and no temporary file is left', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'krbfleet-iis-atomic-'))
    try {
      const path = join(dir, 'f.config')
      await writeFile(path, 'now')
      await assert.rejects(
        replaceFile(path, Buffer.from('mine'), { mode: 0o644, expect: Buffer.from('before') }),
        (err: unknown) => err instanceof FileChangedError && err.code === 'conflict' && err.retryable,
      )
      assert.equal(await readFile(path, 'utf8'), 'now')
      assert.deepEqual(await readdir(dir), ['f.config'])
      await replaceFile(path, Buffer.from('mine'), { mode: 0o600, expect: Buffer.from('now') })
      assert.equal(await readFile(path, 'utf8'), 'mine')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
