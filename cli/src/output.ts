/** Human output: aligned tables and change summaries. */

export function table(rows: Record<string, unknown>[], columns: [key: string, header: string][]): string {
  if (rows.length === 0) return '(none)'
  const cell = (v: unknown) =>
    v === undefined || v === null
      ? ''
      : Array.isArray(v)
        ? v.join(',')
        : typeof v === 'object'
          ? JSON.stringify(v)
          : String(v)
  const cells = rows.map((r) => columns.map(([k]) => cell(r[k])))
  const widths = columns.map(([, h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  return [line(columns.map(([, h]) => h)), ...cells.map(line)].join('\n')
}

/** Key/value lines, for one record. */
export function fields(record: Record<string, unknown>): string {
  const entries = Object.entries(record).filter(([, v]) => v !== undefined)
  const width = Math.max(0, ...entries.map(([k]) => k.length))
  return entries
    .map(
      ([k, v]) =>
        `${k.padEnd(width)}  ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v)}`,
    )
    .join('\n')
}

export interface ChangeLike {
  dryRun?: boolean
  changes?: { type: string; data: unknown }[]
  changesOmitted?: number
  draftRevision?: number
  enabledRevision?: number
  diff?: Record<string, unknown>
}

function describe(data: unknown): string {
  if (!data || typeof data !== 'object') return ''
  return Object.entries(data as Record<string, unknown>)
    .map(([k, v]) => {
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        const named = (v as { fqdn?: string }).fqdn
        return `${k}=${named ?? JSON.stringify(v)}`
      }
      return `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`
    })
    .join(' ')
}

export function diffLines(diff: Record<string, unknown>): string[] {
  const omitted = (diff.omitted ?? {}) as Record<string, number>
  return Object.entries(diff)
    .filter((entry): entry is [string, string[]] => Array.isArray(entry[1]) && entry[1].length > 0)
    .map(([what, names]) => {
      const more = omitted[what] ? ` and ${omitted[what].toLocaleString('en-US')} more` : ''
      return `  ${what}: ${names.join(', ')}${more}`
    })
}

/** A change result in words: what happened (or would, on a dry run). */
export function changeSummary(result: ChangeLike): string {
  const changes = result.changes ?? []
  const lines: string[] = []
  if (changes.length === 0) lines.push(result.dryRun ? 'dry run: nothing would change' : 'nothing changed')
  else lines.push(result.dryRun ? 'dry run, nothing written; would record:' : 'applied:')
  for (const c of changes) lines.push(`  ${c.type} ${describe(c.data)}`.trimEnd())
  if (result.changesOmitted) lines.push(`  ... and ${result.changesOmitted.toLocaleString('en-US')} more`)
  if (result.diff) lines.push(...diffLines(result.diff))
  if (result.enabledRevision !== undefined) lines.push(`enabled revision: ${result.enabledRevision}`)
  return lines.join('\n')
}
