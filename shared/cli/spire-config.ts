/**
 * Reads a SPIRE `server.conf` / `agent.conf` (HCL, or JSON: HCL v1 picks JSON mode by the first
 * character, not the file name) the way SPIRE does, and lists its plugins with the `plugin_data` text
 * SPIRE hands each one. It follows upstream's code path: `run.ParseFile` (optional `-expandEnv`, then
 * `hcl.Decode`), `catalog.PluginConfigsFromHCLNode` (plugin order and duplicates, `plugin_data` re-printed
 * by the HCL v1 printer, `plugin_data_file` read as given, relative to the working directory), on
 * the Go-compatible parser in shared/go/hcl. Positions are kept so that tools can say which line a key
 * path is on. Pure except `loadSpireConfig`, which reads files.
 */
import { readFileSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import type { Node, ObjectItem, Token } from '../go/hcl/ast.js'
import { equalFold } from '../go/hcl/decode.js'
import { HclSyntaxError } from '../go/hcl/errors.js'
import { flattenJsonItems } from '../go/hcl/flatten.js'
import { parseHclDocument } from '../go/hcl/parse.js'
import { printHcl } from '../go/hcl/printer.js'
import type { PrintableNode } from '../go/hcl/printer.js'
import { isHclObject, keyText, literalValue } from '../go/hcl/tree.js'
import type { HclObject, HclValue } from '../go/hcl/tree.js'
import type { KeyPath } from '../plugin/report.js'

export type { KeyPath } from '../plugin/report.js'

export interface SpireConfigOptions {
  /** SPIRE's `-expandEnv`: replace `$VAR` / `${VAR}` (`$$` is a `$`) before parsing. */
  expandEnv?: boolean
  /** The environment for `expandEnv`. loadSpireConfig defaults to process.env, parseSpireConfig to {}. */
  env?: Readonly<Record<string, string | undefined>>
  /**
   * Reads a `plugin_data_file` (given the path resolved against `cwd`). Without it (the default of
   * parseSpireConfig), such files are not read and `pluginData` is "".
   */
  readFile?: (path: string) => string
  /** What a relative `plugin_data_file` is relative to, as SPIRE's working directory. Default: the process's. */
  cwd?: string
}

/** A problem SPIRE itself would refuse the config for (duplicate plugin, wrong type, both data sources). */
export interface ConfigProblem {
  severity: 'error' | 'warning'
  message: string
  keyPath: KeyPath
  file: string
  line?: number
}

export interface SpireConfig {
  file: string
  /** `server` when the config has a `server` section, `agent` for `agent`; undefined for neither or both. */
  side: 'server' | 'agent' | undefined
  /** `server.trust_domain` / `agent.trust_domain`, when given as a string. */
  trustDomain: string | undefined
  /** In SPIRE's order (the order of declaration). */
  plugins: PluginSection[]
  /** Problems in the plugin declarations SPIRE would refuse to start with. */
  problems: ConfigProblem[]
  /** The line of a key path of this config (`['plugins', 'NodeAttestor', 'azure_msi', 'plugin_cmd']`). */
  locate(path: KeyPath): number | undefined
}

export interface PluginSection {
  /** NodeAttestor, KeyManager, … */
  type: string
  name: string
  pluginCmd?: string
  pluginChecksum?: string
  /** The HCL/JSON text SPIRE hands the plugin ("" when it has none). */
  pluginData: string
  /** `plugin_data_file` as written in the config. */
  pluginDataFile?: string
  /** Where the plugin's data came from. */
  dataSource: 'plugin_data' | 'plugin_data_file' | 'none'
  /** Why the `plugin_data_file` could not be read (then `pluginData` is ""). */
  pluginDataError?: string
  /**
   * How `plugin_data` was written: a block (`plugin_data { }` or `= { }`), or a value SPIRE prints
   * as its token, quotes and all (`= "..."`, `= <<EOF`), which no plugin can parse.
   */
  pluginDataForm?: 'block' | 'string' | 'heredoc' | 'other'
  /** Line of the plugin's declaration in the config. */
  line?: number
  /** `enabled = false`. */
  disabled?: boolean
  /**
   * Where a key path inside the plugin data is: the config file (inline `plugin_data`) or the data
   * file. With an empty path, the line of `plugin_data` / `plugin_data_file` itself.
   */
  locateData(path: KeyPath): { file: string; line: number } | undefined
}

/** The config cannot be read or parsed: SPIRE would not start. `line` is set for syntax errors. */
export class SpireConfigError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message)
    this.name = 'SpireConfigError'
  }
}

/** Reads and parses a config file; `plugin_data_file`s are read relative to `opts.cwd` (default: the process's). */
export function loadSpireConfig(path: string, opts: SpireConfigOptions = {}): SpireConfig {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : (err as Error).message
    throw new SpireConfigError(
      `unable to read configuration at ${JSON.stringify(path)}: ${why}`,
      path,
    )
  }
  return parseSpireConfig(text, path, {
    ...opts,
    env: opts.env ?? process.env,
    readFile: opts.readFile ?? ((p) => readFileSync(p, 'utf8')),
    cwd: opts.cwd ?? process.cwd(),
  })
}

/** Parses a config text; `file` names it in messages. Throws SpireConfigError when SPIRE could not parse it. */
export function parseSpireConfig(
  text: string,
  file: string,
  opts: SpireConfigOptions = {},
): SpireConfig {
  const data = opts.expandEnv === true ? expandEnv(text, opts.env ?? {}) : text
  let doc
  try {
    doc = parseHclDocument(data)
  } catch (err) {
    if (!(err instanceof HclSyntaxError)) throw err
    throw new SpireConfigError(
      `unable to decode configuration at ${JSON.stringify(file)}: ${err.message}`,
      file,
      err.line,
      err.column,
    )
  }
  const items = doc.json ? flattenJsonItems(doc.items) : [...doc.items]
  const index = new LineIndex()
  index.addItems(items)
  const problems: ConfigProblem[] = []
  const problem = (message: string, keyPath: KeyPath, line?: number): void => {
    problems.push({
      severity: 'error',
      message,
      keyPath,
      file,
      ...(line === undefined ? {} : { line }),
    })
  }
  const side = sideOf(doc.tree)
  const plugins = new PluginReader(file, doc.json, problem, opts).read(items)
  return {
    file,
    side,
    trustDomain: side === undefined ? undefined : trustDomainOf(doc.tree, side),
    plugins,
    problems,
    locate: (path) => index.locate(path),
  }
}

/**
 * SPIRE's config.ExpandEnv: Go's os.Expand with `$$` kept as `$`. `$NAME` takes the longest run of
 * letters, digits and `_`; `${NAME}` anything up to `}`; unset variables become "".
 */
export function expandEnv(text: string, env: Readonly<Record<string, string | undefined>>): string {
  const lookup = (name: string): string => (name === '$' ? '$' : (env[name] ?? ''))
  let out = ''
  let i = 0
  for (let j = 0; j < text.length; j++) {
    if (text[j] !== '$' || j + 1 >= text.length) continue
    out += text.slice(i, j)
    const { name, width } = shellName(text.slice(j + 1))
    if (name === '' && width > 0) {
      // bad syntax (`${}`, an unclosed `${`): Go eats the characters
    } else if (name === '') {
      out += '$'
    } else {
      out += lookup(name)
    }
    j += width
    i = j + 1
  }
  return out + text.slice(i)
}

function shellName(s: string): { name: string; width: number } {
  const first = s[0] ?? ''
  if (first === '{') {
    if (s.length > 2 && isShellSpecial(s[1] ?? '') && s[2] === '}')
      return { name: s.slice(1, 2), width: 3 }
    for (let i = 1; i < s.length; i++) {
      if (s[i] === '}') {
        if (i === 1) return { name: '', width: 2 }
        return { name: s.slice(1, i), width: i + 1 }
      }
    }
    return { name: '', width: 1 }
  }
  if (isShellSpecial(first)) return { name: first, width: 1 }
  let i = 0
  while (i < s.length && /[A-Za-z0-9_]/.test(s[i] ?? '')) i++
  return { name: s.slice(0, i), width: i }
}

function isShellSpecial(c: string): boolean {
  return c.length === 1 && '*#$@!?-0123456789'.includes(c)
}

function sideOf(tree: HclObject): 'server' | 'agent' | undefined {
  const keys = Object.keys(tree)
  const server = keys.some((k) => equalFold(k, 'server'))
  const agent = keys.some((k) => equalFold(k, 'agent'))
  if (server === agent) return undefined
  return server ? 'server' : 'agent'
}

function trustDomainOf(tree: HclObject, side: 'server' | 'agent'): string | undefined {
  let found: string | undefined
  const visit = (value: HclValue | undefined): void => {
    if (Array.isArray(value)) value.forEach(visit)
    if (!isHclObject(value)) return
    for (const [k, v] of Object.entries(value)) {
      if (equalFold(k, 'trust_domain') && typeof v === 'string') found = v
    }
  }
  for (const [k, v] of Object.entries(tree)) if (equalFold(k, side)) visit(v)
  return found
}

type ProblemSink = (message: string, keyPath: KeyPath, line?: number) => void

interface Declaration {
  type: string
  name: string
  nameToken: Token | undefined
  /** The items of the plugin's body, as hclPluginConfig is decoded from them. */
  body: readonly ObjectItem[] | Node
}

class PluginReader {
  constructor(
    private readonly file: string,
    private readonly json: boolean,
    private readonly problem: ProblemSink,
    private readonly opts: SpireConfigOptions,
  ) {}

  read(items: readonly ObjectItem[]): PluginSection[] {
    const node = pluginsNode(items)
    if (node === undefined) return []
    if (!isItems(node)) {
      this.problem('plugins: expected a block (plugins { ... })', ['plugins'], nodeLine(node))
      return []
    }
    const declarations: Declaration[] = []
    findPlugins(node, [], declarations)
    const seen = new Set<string>()
    const sections: PluginSection[] = []
    for (const decl of declarations) {
      const id = `${decl.type}\u0000${decl.name}`
      const path = ['plugins', decl.type, decl.name]
      const line = decl.nameToken?.pos.line
      if (seen.has(id)) {
        // upstream parity: catalog's determinePluginOrder wording
        this.problem(
          `plugin ${JSON.stringify(decl.type)}/${JSON.stringify(decl.name)} declared more than once`,
          path,
          line,
        )
        continue
      }
      seen.add(id)
      sections.push(this.section(decl, path, line))
    }
    return sections
  }

  private section(decl: Declaration, path: string[], line: number | undefined): PluginSection {
    const body = isItems(decl.body) ? decl.body : undefined
    if (body === undefined) {
      this.problem(`${formatKeyPath(path)}: expected a block`, path, line)
    }
    const fields = new FieldReader(body ?? [], path, this.problem)
    const pluginCmd = fields.string('plugin_cmd')
    const pluginChecksum = fields.string('plugin_checksum')
    const pluginDataFile = fields.string('plugin_data_file')
    const enabled = fields.bool('enabled')
    const data = fields.node('plugin_data')
    const section: PluginSection = {
      type: decl.type,
      name: decl.name,
      pluginData: '',
      dataSource: 'none',
      locateData: () => undefined,
    }
    if (line !== undefined) section.line = line
    if (pluginCmd !== undefined) section.pluginCmd = pluginCmd.value
    if (pluginChecksum !== undefined) section.pluginChecksum = pluginChecksum.value
    if (enabled?.value === false) section.disabled = true
    if (data !== undefined && pluginDataFile !== undefined) {
      this.problem(
        `${formatKeyPath(path)}: only one of [plugin_data, plugin_data_file] can be used`,
        path,
        line,
      )
    }
    if (data !== undefined) {
      section.pluginDataForm = dataForm(data.node)
      section.pluginData = printHcl(data.node, { json: this.json })
      // upstream parity: an empty print is no data source at all, and the plugin receives ""
      if (section.pluginData !== '') section.dataSource = 'plugin_data'
      const index = new LineIndex()
      if (data.node.kind === 'items') index.addItems(data.node.items)
      else if (data.node.kind === 'object') index.addItems(data.node.items)
      const file = this.file
      section.locateData = (p) => {
        const found = p.length === 0 ? undefined : index.locate(p)
        const l = found ?? data.line
        return l === undefined ? undefined : { file, line: l }
      }
    }
    if (pluginDataFile !== undefined) {
      section.pluginDataFile = pluginDataFile.value
      // upstream parity: the file is read when the plugin loads; the last source given wins
      section.dataSource = 'plugin_data_file'
      section.pluginData = ''
      this.readDataFile(section, pluginDataFile.value, pluginDataFile.line)
    }
    return section
  }

  private readDataFile(section: PluginSection, given: string, line: number | undefined): void {
    const dataFile = isAbsolute(given) ? given : resolve(this.opts.cwd ?? process.cwd(), given)
    const own = this.file
    const atKey = (): { file: string; line: number } | undefined =>
      line === undefined ? undefined : { file: own, line }
    section.locateData = atKey
    if (this.opts.readFile === undefined) return
    let text: string
    try {
      text = this.opts.readFile(dataFile)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      section.pluginDataError = `cannot read plugin_data_file ${JSON.stringify(given)} (${dataFile}): ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`
      return
    }
    section.pluginData = text
    const locate = dataLocator(text)
    section.locateData = (p) => {
      if (p.length === 0) return atKey()
      const l = locate(p)
      return l === undefined ? atKey() : { file: given, line: l }
    }
  }
}

/**
 * The `plugins` node as Go's typed decode sets the `ast.Node` field: the last `plugins { }` block
 * (its items), else the items of every `plugins X ...` item with the first key stripped.
 */
function pluginsNode(items: readonly ObjectItem[]): readonly ObjectItem[] | Node | undefined {
  let result: readonly ObjectItem[] | Node | undefined
  const prefix: ObjectItem[] = []
  for (const item of items) {
    const first = item.keys[0]
    if (first === undefined || !equalFold(keyText(first), 'plugins')) continue
    if (item.keys.length > 1) prefix.push({ ...item, keys: item.keys.slice(1) })
  }
  if (prefix.length > 0) result = prefix
  for (const item of items) {
    const first = item.keys[0]
    if (first === undefined || item.keys.length !== 1 || !equalFold(keyText(first), 'plugins'))
      continue
    result = item.val.kind === 'object' ? item.val.items : item.val
  }
  return result
}

/** catalog's determinePluginOrder: the first two keys on any path name a plugin. */
function findPlugins(
  items: readonly ObjectItem[],
  outer: readonly Token[],
  out: Declaration[],
): void {
  for (const item of items) {
    const keys = [...outer, ...item.keys]
    if (keys.length >= 2) {
      const [typeTok, nameTok] = keys as [Token, Token]
      // the item's own keys past the first two name a field inside the body
      const consumed = Math.max(0, 2 - outer.length)
      const rest = item.keys.slice(consumed)
      const body: readonly ObjectItem[] | Node =
        rest.length > 0
          ? [{ ...item, keys: rest }]
          : item.val.kind === 'object'
            ? item.val.items
            : item.val
      out.push({ type: keyText(typeTok), name: keyText(nameTok), nameToken: nameTok, body })
      continue
    }
    const val = item.val
    if (val.kind === 'object') findPlugins(val.items, keys, out)
    else if (val.kind === 'list') {
      for (const elem of val.elems) if (elem.kind === 'object') findPlugins(elem.items, keys, out)
    }
  }
}

/** Decodes hclPluginConfig's fields as HCL v1's decodeStruct does: names match case-insensitively, last wins. */
class FieldReader {
  constructor(
    private readonly items: readonly ObjectItem[],
    private readonly path: readonly string[],
    private readonly problem: ProblemSink,
  ) {}

  private matches(name: string): { exact: ObjectItem[]; prefix: ObjectItem[] } {
    const exact: ObjectItem[] = []
    const prefix: ObjectItem[] = []
    for (const item of this.items) {
      const first = item.keys[0]
      if (first === undefined || !equalFold(keyText(first), name)) continue
      if (item.keys.length === 1) exact.push(item)
      else prefix.push({ ...item, keys: item.keys.slice(1) })
    }
    return { exact, prefix }
  }

  string(name: string): { value: string; line: number | undefined } | undefined {
    const { exact, prefix } = this.matches(name)
    const path = [...this.path, name]
    if (prefix.length > 0) {
      this.problem(
        `${formatKeyPath(path)}: expected string, got a block`,
        path,
        prefix[0]?.keys[0]?.pos.line,
      )
      return undefined
    }
    let result: { value: string; line: number | undefined } | undefined
    for (const item of exact) {
      const val = item.val
      const line = item.keys[0]?.pos.line
      if (val.kind === 'literal' && ['STRING', 'HEREDOC', 'NUMBER'].includes(val.token.type)) {
        // upstream parity: Go's decodeString reads a number as its source text
        const value = val.token.type === 'NUMBER' ? val.token.text : String(literalValue(val.token))
        result = { value, line }
      } else {
        this.problem(`${formatKeyPath(path)}: expected string, got ${kindOf(val)}`, path, line)
        return undefined
      }
    }
    return result
  }

  bool(name: string): { value: boolean } | undefined {
    const { exact, prefix } = this.matches(name)
    const path = [...this.path, name]
    let result: { value: boolean } | undefined
    for (const item of [...prefix, ...exact]) {
      const val = item.val
      if (item.keys.length === 1 && val.kind === 'literal' && val.token.type === 'BOOL') {
        result = { value: val.token.text === 'true' }
      } else {
        const got = item.keys.length === 1 ? kindOf(val) : 'a block'
        this.problem(
          `${formatKeyPath(path)}: expected bool, got ${got}`,
          path,
          item.keys[0]?.pos.line,
        )
        return undefined
      }
    }
    return result
  }

  /** An ast.Node field: prefix matches form an item list, then each exact match replaces it. */
  node(name: string): { node: PrintableNode; line: number | undefined } | undefined {
    const { exact, prefix } = this.matches(name)
    let result: { node: PrintableNode; line: number | undefined } | undefined
    if (prefix.length > 0) {
      result = { node: { kind: 'items', items: prefix }, line: prefix[0]?.keys[0]?.pos.line }
    }
    for (const item of exact) {
      const val = item.val
      const line = item.keys[0]?.pos.line
      result = { node: val.kind === 'object' ? { kind: 'items', items: val.items } : val, line }
    }
    return result
  }
}

function dataForm(node: PrintableNode): PluginSection['pluginDataForm'] {
  if (node.kind === 'items' || node.kind === 'object') return 'block'
  if (node.kind === 'literal' && node.token.type === 'STRING') return 'string'
  if (node.kind === 'literal' && node.token.type === 'HEREDOC') return 'heredoc'
  return 'other'
}

function isItems(x: readonly ObjectItem[] | Node): x is readonly ObjectItem[] {
  return Array.isArray(x)
}

function kindOf(node: Node): string {
  if (node.kind === 'object') return 'object'
  if (node.kind === 'list') return 'list'
  switch (node.token.type) {
    case 'BOOL':
      return 'bool'
    case 'NUMBER':
      return 'int'
    case 'FLOAT':
      return 'float'
    default:
      return 'string'
  }
}

function nodeLine(node: Node): number {
  return node.kind === 'literal' ? node.token.pos.line : node.pos.line
}

/**
 * Key paths to lines in a plugin_data text as a plugin receives it (a `plugin_data_file`, or a bare
 * text): the line of the deepest part of the path that is given; nothing when the text does not parse.
 */
export function dataLocator(text: string): (path: KeyPath) => number | undefined {
  const index = new LineIndex()
  try {
    const doc = parseHclDocument(text)
    index.addItems(doc.json ? flattenJsonItems(doc.items) : doc.items)
  } catch {
    // the plugin reports the syntax error itself
  }
  return (path) => index.locate(path)
}

/** Key paths to lines: the last place each path was given; list elements count across repeats. */
class LineIndex {
  private readonly root = new PathNode()

  addItems(items: readonly ObjectItem[], at: PathNode = this.root): void {
    for (const item of items) {
      let node = at
      for (const key of item.keys) {
        node = node.child(keyText(key))
        node.line = key.pos.line
      }
      this.addValue(node, item.val)
    }
  }

  private addValue(node: PathNode, val: Node): void {
    if (val.kind === 'object') this.addItems(val.items, node)
    else if (val.kind === 'list') {
      for (const elem of val.elems) {
        const child = node.child(String(node.elements++))
        child.line = nodeLine(elem)
        this.addValue(child, elem)
      }
    }
  }

  /** The line of the deepest part of `path` that was given; undefined when not even its first key was. */
  locate(path: KeyPath): number | undefined {
    let node = this.root
    let line: number | undefined
    for (const segment of path) {
      const next = node.find(String(segment))
      if (next === undefined) break
      node = next
      line = next.line ?? line
    }
    return line
  }
}

class PathNode {
  line: number | undefined
  elements = 0
  private readonly children = new Map<string, PathNode>()

  child(key: string): PathNode {
    let node = this.children.get(key)
    if (node === undefined) {
      node = new PathNode()
      this.children.set(key, node)
    }
    return node
  }

  /** Exact key first, then HCL v1's case-insensitive match of struct field names. */
  find(key: string): PathNode | undefined {
    const exact = this.children.get(key)
    if (exact !== undefined) return exact
    for (const [k, node] of this.children) if (equalFold(k, key)) return node
    return undefined
  }
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/

/** `plugins.NodeAttestor.azure_msi.plugin_data.tenants."<tid>".allowed_vm_tags[0]` */
export function formatKeyPath(path: KeyPath): string {
  let out = ''
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else
      out += `${out === '' ? '' : '.'}${PLAIN_KEY.test(segment) ? segment : JSON.stringify(segment)}`
  }
  return out
}
