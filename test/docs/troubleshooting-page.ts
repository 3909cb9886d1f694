// Reads docs/troubleshooting.md as data: its entries (heading, message template, code, plugin log
// line), the "where it shows up" table of SPIRE's wrapping, and the reasons it lists as having no
// entry. Placeholders such as <tenant-id> in a template match any text.
import { isFailureReason, type FailureReason, type StatusName } from '../../shared/plugin/index.js'

export type Side = 'server' | 'agent'
export type PluginName = 'azure_msi' | 'azure_imds'

export interface PageEntry {
  /** The heading text, e.g. `server azure_msi · tenant_not_authorized`: the key of its test case. */
  heading: string
  side: Side
  plugins: PluginName[]
  reason: FailureReason
  /** The text in parentheses after the reason, if any. */
  variant: string | undefined
  /** The plugin's message, as the page writes it (placeholders included). */
  message: string
  code: StatusName
  /** The `@message` of the line the plugin itself logs for this failure, when it logs one. */
  pluginLog: string | undefined
  /** `configure` entries are Configure refusals; `load` ones fail the plugin's Init. */
  stage: 'attest' | 'configure' | 'load'
}

export interface WrappingRow {
  /** First cell: which situation the row describes (its key). */
  when: string
  process: 'spire-server' | 'spire-agent'
  level: string
  msg: string
  /** The `error` field, or undefined for "—". */
  error: string | undefined
}

export interface TroubleshootingPage {
  entries: PageEntry[]
  wrapping: WrappingRow[]
  /** Reasons the page names in its "no entry" table. */
  withoutEntry: FailureReason[]
}

const HEADING =
  /^### (server|agent) (azure_msi|azure_imds)(?:, (azure_msi|azure_imds))? · ([a-z0-9_]+)(?: \((.+)\))?$/
const STATUS_NAMES: readonly StatusName[] = [
  'Cancelled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'Unavailable',
  'Internal',
  'Unimplemented',
  'Unauthenticated',
]

/** Parses the page; throws with the heading at fault when an entry is malformed. */
export function parseTroubleshootingPage(text: string): TroubleshootingPage {
  const lines = text.split('\n')
  const entries: PageEntry[] = []
  let section = ''
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (line.startsWith('## ')) section = line.slice(3)
    if (!line.startsWith('### ')) continue
    const m = HEADING.exec(line)
    if (m === null) throw new Error(`malformed entry heading: ${line}`)
    const [, side, first, second, reason, variant] = m
    if (!isFailureReason(reason!)) throw new Error(`${line}: ${reason} is not a FailureReason`)
    const body: string[] = []
    for (let j = i + 1; j < lines.length && !/^#{2,3} /.test(lines[j]!); j++) body.push(lines[j]!)
    const heading = line.slice(4)
    const fence = body.indexOf('```text')
    const end = body.indexOf('```', fence + 1)
    if (fence === -1 || end !== fence + 2) {
      throw new Error(`${heading}: needs one \`\`\`text block holding the one-line message`)
    }
    const codeLine = body.find((l) => l.startsWith('**Code** '))
    const code = /^\*\*Code\*\* `([A-Za-z]+)`/.exec(codeLine ?? '')?.[1]
    if (code === undefined || !(STATUS_NAMES as readonly string[]).includes(code)) {
      throw new Error(`${heading}: needs a "**Code** \`<gRPC status>\`" line`)
    }
    const pluginLog = /\*\*Plugin log\*\* `([^`]+)`/.exec(codeLine ?? '')?.[1]
    entries.push({
      heading,
      side: side as Side,
      plugins: [first, second].filter((p): p is PluginName => p !== undefined),
      reason: reason as FailureReason,
      variant,
      message: body[fence + 1]!,
      code: code as StatusName,
      pluginLog,
      stage: /^Configure/.test(section)
        ? 'configure'
        : /^Loading/.test(section)
          ? 'load'
          : 'attest',
    })
  }
  return { entries, wrapping: wrappingTable(lines), withoutEntry: withoutEntry(lines) }
}

/** The table under "## Where the messages show up": rows of backticked cells. */
function wrappingTable(lines: readonly string[]): WrappingRow[] {
  const start = lines.findIndex((l) => l.startsWith('## Where the messages show up'))
  if (start === -1) throw new Error('no "Where the messages show up" section')
  const rows: WrappingRow[] = []
  for (let i = start + 1; i < lines.length && !lines[i]!.startsWith('## '); i++) {
    const line = lines[i]!
    if (!line.startsWith('| ') || line.startsWith('| when') || line.startsWith('|---')) continue
    const cells = line
      .slice(1, -1)
      .split(' | ')
      .map((c) => c.trim())
    if (cells.length !== 5) throw new Error(`wrapping row needs 5 cells: ${line}`)
    const [when, process, level, msg, error] = cells as [string, string, string, string, string]
    if (process !== 'spire-server' && process !== 'spire-agent')
      throw new Error(`wrapping row names no process: ${line}`)
    rows.push({
      when,
      process,
      level: unquote(level),
      msg: unquote(msg),
      error: error === '—' ? undefined : unquote(error),
    })
  }
  return rows
}

function unquote(cell: string): string {
  const m = /^`(.*)`$/.exec(cell)
  if (m === null) throw new Error(`expected one code span: ${cell}`)
  return m[1]!
}

/** Reasons in the first column of the table under "## Reasons without an entry". */
function withoutEntry(lines: readonly string[]): FailureReason[] {
  const start = lines.findIndex((l) => l.startsWith('## Reasons without an entry'))
  if (start === -1) throw new Error('no "Reasons without an entry" section')
  const out: FailureReason[] = []
  for (let i = start + 1; i < lines.length && !lines[i]!.startsWith('## '); i++) {
    const m = /^\| `([a-z0-9_]+)` \|/.exec(lines[i]!)
    if (m === null) continue
    if (!isFailureReason(m[1]!)) throw new Error(`${m[1]} is not a FailureReason`)
    out.push(m[1])
  }
  return out
}

/**
 * A template as an anchored regular expression: literal text verbatim, each `<placeholder>` any
 * non-empty text. `substitutions` fixes placeholders to given values (e.g. `<plugin>`).
 */
export function templateRegExp(
  template: string,
  substitutions: Record<string, string> = {},
): RegExp {
  const parts = template.split(/(<[a-z][a-z0-9-]*>)/)
  const source = parts
    .map((p, i) => {
      if (i % 2 === 0) return escape(p)
      const fixed = substitutions[p.slice(1, -1)]
      return fixed === undefined ? '(.+?)' : escape(fixed)
    })
    .join('')
  return new RegExp(`^${source}$`, 's')
}

/** Whether `actual` is an instance of `template`. */
export function matchesTemplate(
  template: string,
  actual: string,
  substitutions: Record<string, string> = {},
): boolean {
  return templateRegExp(template, substitutions).test(actual)
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
