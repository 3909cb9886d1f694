// A port of Go's text/template/parse parser (parse.go). Error texts match Go's.

import { type Item, type ItemType, Lexer, itemString } from './lexer.js'
import type {
  ArgNode, BranchNode, CommandNode, ElseNode, EndNode, ListNode, Node, NumberNode, PipeNode,
  TemplateNode, VariableNode,
} from './nodes.js'
import { nodeString } from './nodes.js'
import { parseFloat64, parseInt64, parseUint64, quote, unquote, unquoteChar } from './strconv.js'
import { isSpace } from './unicode.js'
import { fromBytes } from './utf8.js'

/** One named template: `define`, `block` and the top-level text each make one. */
export interface Tree {
  name: string
  readonly parseName: string
  root: ListNode | undefined
  readonly text: string // byte string of the whole source, for error positions
}

export interface ParserOptions {
  readonly hasFunction: (name: string) => boolean
  readonly maxDepth: number
}

/** A parse failure: `message` is the full Go-style text; `limit` marks our own bounds. */
export class ParseFailure extends Error {
  constructor(
    message: string,
    readonly limit = false,
  ) {
    super(message)
  }
}

const ZERO_ITEM: Item = { typ: 'eof', pos: 0, val: '', line: 0 }

/** Parses `text` (a byte string) into its named trees, as Go's parse.Parse does. */
export function parseTrees(name: string, text: string, options: ParserOptions): Map<string, Tree> {
  const treeSet = new Map<string, Tree>()
  const lex = new Lexer(text)
  lex.options = { breakOK: !options.hasFunction('break'), continueOK: !options.hasFunction('continue') }
  const p = new TreeParser(name, name, text, lex, treeSet, options, 0)
  p.parse()
  p.add()
  return treeSet
}

class TreeParser {
  private readonly tree: Tree
  private readonly token: Item[] = [ZERO_ITEM, ZERO_ITEM, ZERO_ITEM]
  private peekCount = 0
  private vars: string[] = ['$']
  private actionLine = 0
  private rangeDepth = 0
  private stackDepth = 0

  constructor(
    name: string,
    private readonly parseName: string,
    private readonly text: string,
    private readonly lex: Lexer,
    private readonly treeSet: Map<string, Tree>,
    private readonly options: ParserOptions,
    private nesting: number,
  ) {
    this.tree = { name, parseName, root: undefined, text }
  }

  private sub(name: string): TreeParser {
    return new TreeParser(name, this.parseName, this.text, this.lex, this.treeSet, this.options, this.nesting)
  }

  // --- token stream (three-token lookahead, as in Go) ---

  private next(): Item {
    if (this.peekCount > 0) this.peekCount--
    else this.token[0] = this.lex.nextItem()
    return this.tok(this.peekCount)
  }
  private tok(i: number): Item {
    return this.token[i] ?? ZERO_ITEM
  }
  private backup(): void {
    this.peekCount++
  }
  private backup2(t1: Item): void {
    this.token[1] = t1
    this.peekCount = 2
  }
  private backup3(t2: Item, t1: Item): void {
    this.token[1] = t1
    this.token[2] = t2
    this.peekCount = 3
  }
  private peek(): Item {
    if (this.peekCount > 0) return this.tok(this.peekCount - 1)
    this.peekCount = 1
    this.token[0] = this.lex.nextItem()
    return this.tok(0)
  }
  private nextNonSpace(): Item {
    for (;;) {
      const t = this.next()
      if (t.typ !== 'space') return t
    }
  }
  private peekNonSpace(): Item {
    const t = this.nextNonSpace()
    this.backup()
    return t
  }

  // --- errors ---

  private errorf(message: string, limit = false): never {
    this.tree.root = undefined
    throw new ParseFailure(`template: ${this.parseName}:${this.tok(0).line}: ${message}`, limit)
  }
  private expect(expected: ItemType, context: string): Item {
    const t = this.nextNonSpace()
    if (t.typ !== expected) this.unexpected(t, context)
    return t
  }
  private expectOneOf(a: ItemType, b: ItemType, context: string): Item {
    const t = this.nextNonSpace()
    if (t.typ !== a && t.typ !== b) this.unexpected(t, context)
    return t
  }
  private unexpected(t: Item, context: string): never {
    if (t.typ === 'error') {
      let extra = ''
      if (this.actionLine !== 0 && this.actionLine !== t.line) {
        extra = ` in action started at ${this.parseName}:${this.actionLine}`
        if (t.val.endsWith(' action')) extra = extra.slice(' in action'.length)
      }
      this.errorf(`${itemString(t)}${extra}`)
    }
    this.errorf(`unexpected ${itemString(t)} in ${context}`)
  }
  private enter(): void {
    if (++this.nesting > this.options.maxDepth) this.errorf('max nesting depth exceeded', true)
  }

  // --- trees ---

  add(): void {
    const existing = this.treeSet.get(this.tree.name)
    if (existing === undefined || isEmptyTree(existing.root)) {
      this.treeSet.set(this.tree.name, this.tree)
      return
    }
    if (!isEmptyTree(this.tree.root)) {
      this.errorf(`template: multiple definition of template ${quote(this.tree.name)}`)
    }
  }

  parse(): void {
    this.tree.root = this.newList(this.peek().pos)
    while (this.peek().typ !== 'eof') {
      if (this.peek().typ === 'leftDelim') {
        const delim = this.next()
        if (this.nextNonSpace().typ === 'define') {
          const def = this.sub('definition')
          def.enter()
          def.parseDefinition()
          continue
        }
        this.backup2(delim)
      }
      const n = this.textOrAction()
      if (n.type === 'end' || n.type === 'else') this.errorf(`unexpected ${nodeString(n)}`)
      this.tree.root.nodes.push(n)
    }
  }

  private parseDefinition(): void {
    const context = 'define clause'
    const nameTok = this.expectOneOf('string', 'rawString', context)
    const name = this.unquoteOrFail(nameTok.val)
    this.tree.name = name
    this.expect('rightDelim', context)
    const [list, end] = this.itemList()
    this.tree.root = list
    if (end.type !== 'end') this.errorf(`unexpected ${nodeString(end)} in ${context}`)
    this.add()
  }

  private newList(pos: number): ListNode {
    return { type: 'list', pos, nodes: [] }
  }

  private itemList(): [ListNode, EndNode | ElseNode] {
    const list = this.newList(this.peekNonSpace().pos)
    while (this.peekNonSpace().typ !== 'eof') {
      const n = this.textOrAction()
      if (n.type === 'end' || n.type === 'else') return [list, n]
      list.nodes.push(n)
    }
    this.errorf('unexpected EOF')
  }

  private textOrAction(): Node {
    const t = this.nextNonSpace()
    switch (t.typ) {
      case 'text':
        return { type: 'text', pos: t.pos, text: fromBytes(t.val) }
      case 'leftDelim':
        this.actionLine = t.line
        try {
          return this.action()
        } finally {
          this.actionLine = 0
        }
      default:
        this.unexpected(t, 'input')
    }
  }

  private action(): Node {
    const t = this.nextNonSpace()
    switch (t.typ) {
      case 'block':
        return this.blockControl()
      case 'break':
      case 'continue':
        return this.loopControl(t)
      case 'else':
        return this.elseControl()
      case 'end':
        return { type: 'end', pos: this.expect('rightDelim', 'end').pos }
      case 'if':
      case 'range':
      case 'with':
        return this.branchControl(t.typ)
      case 'template':
        return this.templateControl()
    }
    this.backup()
    const token = this.peek()
    return { type: 'action', pos: token.pos, line: token.line, pipe: this.pipeline('command', 'rightDelim') }
  }

  private loopControl(t: Item): Node {
    const typ = t.typ === 'break' ? 'break' : 'continue'
    const next = this.nextNonSpace()
    if (next.typ !== 'rightDelim') this.unexpected(next, `{{${typ}}}`)
    if (this.rangeDepth === 0) this.errorf(`{{${typ}}} outside {{range}}`)
    return { type: typ, pos: t.pos, line: t.line }
  }

  private pipeline(context: string, end: ItemType): PipeNode {
    const token = this.peekNonSpace()
    const pipe: PipeNode = { type: 'pipe', pos: token.pos, line: token.line, isAssign: false, decl: [], cmds: [] }
    decls: for (;;) {
      const v = this.peekNonSpace()
      if (v.typ !== 'variable') break
      this.next()
      const tokenAfterVariable = this.peek()
      const next = this.peekNonSpace()
      if (next.typ === 'assign' || next.typ === 'declare') {
        pipe.isAssign = next.typ === 'assign'
        this.nextNonSpace()
        pipe.decl.push(this.newVariable(v.pos, fromBytes(v.val)))
        this.vars.push(fromBytes(v.val))
      } else if (next.typ === 'char' && next.val === ',') {
        this.nextNonSpace()
        pipe.decl.push(this.newVariable(v.pos, fromBytes(v.val)))
        this.vars.push(fromBytes(v.val))
        if (context === 'range' && pipe.decl.length < 2) {
          const p = this.peekNonSpace().typ
          if (p === 'variable' || p === 'rightDelim' || p === 'rightParen') continue decls
          this.errorf('range can only initialize variables')
        }
        this.errorf(`too many declarations in ${context}`)
      } else if (tokenAfterVariable.typ === 'space') {
        this.backup3(v, tokenAfterVariable)
      } else {
        this.backup2(v)
      }
      break
    }
    for (;;) {
      const t = this.nextNonSpace()
      switch (t.typ) {
        case end:
          this.checkPipeline(pipe, context)
          return pipe
        case 'bool': case 'charConstant': case 'complex': case 'dot': case 'field': case 'identifier':
        case 'number': case 'nil': case 'rawString': case 'string': case 'variable': case 'leftParen':
          this.backup()
          pipe.cmds.push(this.command())
          break
        default:
          this.unexpected(t, context)
      }
    }
  }

  private checkPipeline(pipe: PipeNode, context: string): void {
    if (pipe.cmds.length === 0) this.errorf(`missing value for ${context}`)
    pipe.cmds.slice(1).forEach((c, i) => {
      const t = c.args[0]?.type
      if (t === 'bool' || t === 'dot' || t === 'nil' || t === 'number' || t === 'string') {
        this.errorf(`non executable command in pipeline stage ${i + 2}`)
      }
    })
  }

  private parseControl(context: 'if' | 'range' | 'with'): Omit<BranchNode, 'type'> {
    const mark = this.vars.length
    this.enter()
    try {
      const pipe = this.pipeline(context, 'rightDelim')
      if (context === 'range') this.rangeDepth++
      let [list, next] = this.itemList()
      if (context === 'range') this.rangeDepth--
      let elseList: ListNode | undefined
      if (next.type === 'else') {
        if ((context === 'if' || context === 'with') && this.peek().typ === context) {
          this.next()
          elseList = this.newList(next.pos)
          elseList.nodes.push(this.branchControl(context))
        } else {
          ;[elseList, next] = this.itemList()
          if (next.type !== 'end') this.errorf(`expected end; found ${nodeString(next)}`)
        }
      }
      return { pos: pipe.pos, line: pipe.line, pipe, list, elseList }
    } finally {
      this.vars.length = mark
      this.nesting--
    }
  }

  private branchControl(type: 'if' | 'range' | 'with'): BranchNode {
    return { type, ...this.parseControl(type) }
  }

  private elseControl(): ElseNode {
    const p = this.peekNonSpace()
    if (p.typ === 'if' || p.typ === 'with') return { type: 'else', pos: p.pos, line: p.line }
    const t = this.expect('rightDelim', 'else')
    return { type: 'else', pos: t.pos, line: t.line }
  }

  private blockControl(): TemplateNode {
    const context = 'block clause'
    const token = this.nextNonSpace()
    const name = this.parseTemplateName(token, context)
    const pipe = this.pipeline(context, 'rightDelim')
    const block = this.sub(name)
    block.enter()
    const [list, end] = block.itemList()
    block.tree.root = list
    if (end.type !== 'end') this.errorf(`unexpected ${nodeString(end)} in ${context}`)
    block.add()
    return { type: 'template', pos: token.pos, line: token.line, name, pipe }
  }

  private templateControl(): TemplateNode {
    const context = 'template clause'
    const token = this.nextNonSpace()
    const name = this.parseTemplateName(token, context)
    let pipe: PipeNode | undefined
    if (this.nextNonSpace().typ !== 'rightDelim') {
      this.backup()
      pipe = this.pipeline(context, 'rightDelim')
    }
    return { type: 'template', pos: token.pos, line: token.line, name, pipe }
  }

  private parseTemplateName(token: Item, context: string): string {
    if (token.typ === 'string' || token.typ === 'rawString') return this.unquoteOrFail(token.val)
    this.unexpected(token, context)
  }

  private unquoteOrFail(val: string): string {
    try {
      return fromBytes(unquote(val))
    } catch {
      this.errorf('invalid syntax')
    }
  }

  private command(): CommandNode {
    const cmd: CommandNode = { type: 'command', pos: this.peekNonSpace().pos, args: [] }
    for (;;) {
      this.peekNonSpace()
      const operand = this.operand()
      if (operand !== undefined) cmd.args.push(operand)
      const t = this.next()
      if (t.typ === 'space') continue
      if (t.typ === 'rightDelim' || t.typ === 'rightParen') this.backup()
      else if (t.typ !== 'pipe') this.unexpected(t, 'operand')
      break
    }
    if (cmd.args.length === 0) this.errorf('empty command')
    return cmd
  }

  private operand(): ArgNode | undefined {
    const node = this.term()
    if (node === undefined || this.peek().typ !== 'field') return node
    const pos = this.peek().pos
    const fields: string[] = []
    while (this.peek().typ === 'field') fields.push(fromBytes(this.next().val).slice(1))
    switch (node.type) {
      case 'field':
        return { type: 'field', pos, ident: [...node.ident, ...fields] }
      case 'variable':
        return { type: 'variable', pos, ident: [...node.ident, ...fields] }
      case 'bool': case 'string': case 'number': case 'nil': case 'dot':
        this.errorf(`unexpected . after term ${quote(nodeString(node))}`)
    }
    return { type: 'chain', pos, node, field: fields }
  }

  private term(): ArgNode | undefined {
    const t = this.nextNonSpace()
    switch (t.typ) {
      case 'identifier': {
        const name = fromBytes(t.val)
        if (!this.options.hasFunction(name)) this.errorf(`function ${quote(name)} not defined`)
        return { type: 'identifier', pos: t.pos, ident: name }
      }
      case 'dot':
        return { type: 'dot', pos: t.pos }
      case 'nil':
        return { type: 'nil', pos: t.pos }
      case 'variable':
        return this.useVar(t.pos, fromBytes(t.val))
      case 'field':
        return { type: 'field', pos: t.pos, ident: fromBytes(t.val).slice(1).split('.') }
      case 'bool':
        return { type: 'bool', pos: t.pos, value: t.val === 'true' }
      case 'charConstant':
      case 'complex':
      case 'number':
        return this.newNumber(t)
      case 'leftParen': {
        if (this.stackDepth >= this.options.maxDepth) this.errorf('max expression depth exceeded', true)
        this.stackDepth++
        try {
          return this.pipeline('parenthesized pipeline', 'rightParen')
        } finally {
          this.stackDepth--
        }
      }
      case 'string':
      case 'rawString':
        return { type: 'string', pos: t.pos, quoted: fromBytes(t.val), text: this.unquoteOrFail(t.val) }
    }
    this.backup()
    return undefined
  }

  private newVariable(pos: number, ident: string): VariableNode {
    return { type: 'variable', pos, ident: ident.split('.') }
  }

  private useVar(pos: number, name: string): VariableNode {
    const v = this.newVariable(pos, name)
    const head = v.ident[0] ?? ''
    if (!this.vars.includes(head)) this.errorf(`undefined variable ${quote(head)}`)
    return v
  }

  private newNumber(t: Item): NumberNode {
    const text = fromBytes(t.val)
    const base = { type: 'number', pos: t.pos, text } as const
    if (t.typ === 'charConstant') {
      let r: number
      let tail: string
      try {
        ;[r, , tail] = unquoteChar(t.val.slice(1), t.val[0] ?? '')
      } catch {
        this.errorf('invalid syntax')
      }
      if (tail !== "'") this.errorf(`malformed character constant: ${text}`)
      return { ...base, isInt: true, isUint: true, isFloat: true, int64: BigInt(r), uint64: BigInt(r), float64: r }
    }
    // deviation: complex constants (1+2i, 3i) are rejected (docs/agent-path-template.md)
    if (t.typ === 'complex' || text.endsWith('i')) this.errorf(`complex constants are not supported: ${text}`)
    const u = parseUint64(text)
    const i = parseInt64(text)
    let isUint = u !== undefined
    let isInt = i !== undefined
    let uint64 = u ?? 0n
    let int64 = i ?? 0n
    if (isInt && int64 === 0n) {
      isUint = true
      uint64 = 0n
    }
    let isFloat = false
    let float64 = 0
    if (isInt) {
      isFloat = true
      float64 = Number(int64)
    } else if (isUint) {
      isFloat = true
      float64 = Number(uint64)
    } else {
      const f = parseFloat64(text)
      if (f !== undefined) {
        if (!/[.eEpP]/.test(text)) this.errorf(`integer overflow: ${quote(text)}`)
        isFloat = true
        float64 = f
        if (Number.isInteger(f) && f >= -(2 ** 63) && f < 2 ** 63) {
          isInt = true
          int64 = BigInt(f)
        }
        if (Number.isInteger(f) && f >= 0 && f < 2 ** 64) {
          isUint = true
          uint64 = BigInt(f)
        }
      }
    }
    if (!isInt && !isUint && !isFloat) this.errorf(`illegal number syntax: ${quote(text)}`)
    return { ...base, isInt, isUint, isFloat, int64, uint64, float64 }
  }
}

/** Go's parse.IsEmptyTree. */
export function isEmptyTree(n: Node | undefined): boolean {
  if (n === undefined) return true
  if (n.type === 'list') return n.nodes.every(isEmptyTree)
  if (n.type === 'text') return [...n.text].every((ch) => isSpace(ch.codePointAt(0) ?? 0))
  return false
}
