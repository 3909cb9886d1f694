// HCL v1's printer (hashicorp/hcl v1.0.1-vault-7 hcl/printer, `printer.DefaultConfig.Fprint`), which
// SPIRE uses to turn an operator's `plugin_data` block back into the text the plugin receives. Its
// quirks are the point: a heredoc last loses the newline after its terminator, a JSON `null` prints
// as nothing, a quoted-string `plugin_data` prints with its quotes, and comments are partly kept. A
// printed node is never a whole file here (SPIRE prints a sub-node), so Go's standalone comments,
// which it collects only from a file, never print.
import type { ListNode, LiteralNode, Node, ObjectItem, ObjectNode } from './ast.js'
import type { Pos } from './source-reader.js'

/** What SPIRE hands a plugin for a `plugin_data` node: a value, or the items of a block body. */
export type PrintableNode = Node | { kind: 'items'; items: readonly ObjectItem[] }

export interface PrintOptions {
  /**
   * The node comes from a JSON-mode text. Go's JSON parser gives its tokens, objects and lists no
   * positions (line 0), which changes how the printer groups and aligns items.
   */
  json?: boolean
}

/** Private-use marker Go puts before heredoc lines so that indenting skips them. */
const UNINDENT = '\uE123'
const INDENT = '  '

/** `printer.DefaultConfig.Fprint(&buf, node)` as SPIRE's catalog calls it. */
export function printHcl(node: PrintableNode, options: PrintOptions = {}): string {
  return unindent(new Printer(options.json === true).output(node))
}

class Printer {
  // Go prints an item up to three times (to count its lines, to measure it for alignment, to
  // write it), at every level: without memoising, deep nesting would cost exponential time
  private readonly printed = new WeakMap<object, string>()

  constructor(private readonly json: boolean) {}

  output(node: PrintableNode): string {
    const hit = this.printed.get(node)
    if (hit !== undefined) return hit
    const text = this.print(node)
    this.printed.set(node, text)
    return text
  }

  private print(node: PrintableNode): string {
    switch (node.kind) {
      case 'items':
        return this.objectList(node.items)
      case 'literal':
        return this.literal(node)
      case 'list':
        return this.list(node)
      case 'object':
        return this.objectType(node)
    }
  }

  private line(pos: Pos): number {
    return this.json ? 0 : pos.line
  }

  private itemLine(item: ObjectItem): number {
    const first = item.keys[0]
    return first === undefined ? 0 : this.line(first.pos)
  }

  private nodeLine(node: Node): number {
    return this.line(node.kind === 'literal' ? node.token.pos : node.pos)
  }

  /** Go's ObjectList: one item a line, with a blank line between all but adjacent empty blocks. */
  private objectList(items: readonly ObjectItem[]): string {
    let buf = ''
    for (const [index, current] of items.entries()) {
      buf += this.objectItem(current)
      const next = items[index + 1]
      if (next === undefined) break
      buf += '\n'
      if (
        this.itemLine(next) !== this.itemLine(current) + 1 ||
        !isSingleLineObject(next) ||
        !isSingleLineObject(current)
      ) {
        buf += '\n'
      }
    }
    return buf
  }

  private literal(lit: LiteralNode): string {
    let text = lit.token.text
    if (lit.token.type === 'HEREDOC') {
      // Go drops the heredoc's final newline, and marks lines 2+ so that indenting skips them
      if (text.endsWith('\n')) text = text.slice(0, -1)
      text = heredocIndent(text)
    } else if (lit.token.type === 'STRING' && text.includes('\n')) {
      text = heredocIndent(text)
    }
    return text
  }

  private objectItem(o: ObjectItem): string {
    const hit = this.printed.get(o)
    if (hit !== undefined) return hit
    const text = this.printItem(o)
    this.printed.set(o, text)
    return text
  }

  private printItem(o: ObjectItem): string {
    let buf = ''
    for (const comment of o.leadComment?.list ?? []) buf += `${comment}\n`
    const sameLine = this.nodeLine(o.val) === this.itemLine(o)
    // a line comment on a key whose value starts on a later line prints like a lead comment
    if (o.lineComment !== undefined && !sameLine) {
      for (const comment of o.lineComment.list) buf += `${comment}\n`
    }
    for (const [i, k] of o.keys.entries()) {
      buf += `${k.text} `
      // Go's JSON parser keeps the position of ':' (the only one it keeps), so JSON items print `=`
      if (
        o.assign !== undefined &&
        o.assign.line > 0 &&
        i === o.keys.length - 1 &&
        o.keys.length === 1
      ) {
        buf += '= '
      }
    }
    buf += this.output(o.val)
    if (o.lineComment !== undefined && sameLine) {
      buf += ` ${o.lineComment.list.join('')}`
    }
    return buf
  }

  private objectType(o: ObjectNode): string {
    const items = o.items
    let buf = '{'
    let index = 0
    let newlinePrinted = false
    while (index < items.length) {
      if (!newlinePrinted) {
        buf += '\n'
        newlinePrinted = true
      }
      // adjacent one-line items are aligned as a group
      const aligned: ObjectItem[] = []
      while (index < items.length) {
        const item = items[index]
        if (item === undefined || items.length === 1) break
        if (lines(this.objectItem(item)) > 2) break
        const cur = this.itemLine(item)
        const nextItem = index !== items.length - 1 ? items[index + 1] : undefined
        const next = nextItem === undefined ? 0 : this.itemLine(nextItem)
        const prevItem = index !== 0 ? items[index - 1] : undefined
        const prev = prevItem === undefined ? 0 : this.itemLine(prevItem)
        if (cur + 1 === next) {
          aligned.push(item)
          index++
          continue
        }
        if (cur - 1 === prev) {
          aligned.push(item)
          index++
          if (cur + 1 !== next) break
          continue
        }
        break
      }
      // upstream parity: `index` counts from the start of the block, so every group after the
      // first is preceded by a blank line
      if (index !== aligned.length) buf += '\n'
      if (aligned.length >= 1) {
        buf += indent(this.alignedItems(aligned))
      } else {
        const item = items[index]
        if (item !== undefined) buf += indent(this.objectItem(item))
        index++
      }
      buf += '\n'
    }
    return `${buf}}`
  }

  private alignedItems(items: readonly ObjectItem[]): string {
    let longestKeyLen = 0
    let longestValLen = 0
    for (const item of items) {
      longestKeyLen = Math.max(longestKeyLen, byteLength(item.keys[0]?.text ?? ''))
      longestValLen = Math.max(longestValLen, byteLength(this.output(item.val)))
    }
    const out: string[] = []
    for (const item of items) {
      let buf = ''
      for (const comment of item.leadComment?.list ?? []) buf += `${comment}\n`
      for (const [i, k] of item.keys.entries()) {
        buf += k.text + ' '.repeat(Math.max(0, longestKeyLen - byteLength(k.text) + 1))
        if (i === item.keys.length - 1 && item.keys.length === 1) buf += '= '
      }
      const val = this.output(item.val)
      buf += val
      if (this.nodeLine(item.val) === this.itemLine(item) && item.lineComment !== undefined) {
        buf += ' '.repeat(Math.max(0, longestValLen - byteLength(val) + 1))
        buf += item.lineComment.list.join('')
      }
      out.push(buf)
    }
    return out.join('\n')
  }

  private list(l: ListNode): string {
    if (this.isSingleLineList(l)) return this.singleLineList(l)
    let buf = '[\n'
    let longestLine = 0
    for (const item of l.elems) {
      if (item.kind === 'literal') longestLine = Math.max(longestLine, byteLength(item.token.text))
    }
    let haveEmptyLine = false
    for (const [i, item] of l.elems.entries()) {
      const lit = item.kind === 'literal' ? item : undefined
      // a lead comment goes first, set off by blank lines (except for the first element)
      const leadComment = lit?.leadComment !== undefined
      if (lit?.leadComment !== undefined) {
        if (!haveEmptyLine && i !== 0) buf += '\n'
        for (const comment of lit.leadComment.list) buf += `${indent(comment)}\n`
      }
      const val = this.output(item)
      buf += indent(val)
      // after a heredoc the comma goes on the next line
      buf += lit?.token.type === 'HEREDOC' ? `\n${indent(',')}` : ','
      if (lit?.lineComment !== undefined) {
        buf += ' '.repeat(1 + Math.max(0, longestLine - byteLength(val)))
        buf += lit.lineComment.list.join('')
      }
      buf += '\n'
      haveEmptyLine = leadComment && i !== l.elems.length - 1
      if (haveEmptyLine) buf += '\n'
    }
    return `${buf}]`
  }

  /** All on the `[` line, all literals, a heredoc only alone, no line comments. */
  private isSingleLineList(l: ListNode): boolean {
    const lbrack = this.line(l.pos)
    return l.elems.every(
      (item) =>
        this.nodeLine(item) === lbrack &&
        item.kind === 'literal' &&
        (item.token.type !== 'HEREDOC' || l.elems.length === 1) &&
        item.lineComment === undefined,
    )
  }

  private singleLineList(l: ListNode): string {
    let buf = '['
    for (const [i, item] of l.elems.entries()) {
      if (i !== 0) buf += ', '
      buf += this.output(item)
      // a heredoc's terminator must end its line
      if (item.kind === 'literal' && item.token.type === 'HEREDOC') buf += '\n'
    }
    return `${buf}]`
  }
}

/** Go's isSingleLineObject: an empty block (`obj {}`) without lead comment or `=`. */
function isSingleLineObject(item: ObjectItem): boolean {
  if (item.leadComment !== undefined) return false
  if (item.assign !== undefined && item.assign.line > 0) return false
  return item.val.kind === 'object' && item.val.items.length === 0
}

/** Go's `indent`: two spaces before every non-empty line. */
function indent(text: string): string {
  let out = ''
  let bol = true
  for (const c of text) {
    if (bol && c !== '\n') out += INDENT
    out += c
    bol = c === '\n'
  }
  return out
}

/** Go's `heredocIndent`: marks the start of lines 2+ so that `unindent` strips their indentation. */
function heredocIndent(text: string): string {
  let out = ''
  let bol = false
  for (const c of text) {
    if (bol && c !== '\n') out += UNINDENT
    out += c
    bol = c === '\n'
  }
  return out
}

/** Go's `unindent`: removes each marker and the indentation before it on its line. */
function unindent(text: string): string {
  let out = ''
  for (let i = 0; i < text.length; i++) {
    // upstream parity: a marker in the very last position is kept (Go's bound is off by one)
    if (text.length - i <= UNINDENT.length || text[i] !== UNINDENT) {
      out += text[i]
      continue
    }
    const nl = out.lastIndexOf('\n')
    out = out.slice(0, nl + 1)
  }
  return out
}

function lines(text: string): number {
  let n = 1
  for (const c of text) if (c === '\n') n++
  return n
}

function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8')
}
