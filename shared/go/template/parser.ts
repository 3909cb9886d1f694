// A port of Go's text/template/parse parser (parse.go): templates, actions and control structures.
// Expressions are in parse-expr.ts, the token stream in parse-tokens.ts. Error texts match Go's.

import { type Item, Lexer } from './lexer.js'
import type {
  BranchNode,
  ElseNode,
  EndNode,
  ListNode,
  Node,
  PipeNode,
  TemplateNode,
} from './nodes.js'
import { nodeString } from './nodes.js'
import { ExprParser } from './parse-expr.js'
import type { ParserOptions, Tree } from './parse-tokens.js'
import { quote } from '../strconv.js'
import { isSpace } from '../unicode.js'
import { fromBytes } from '../utf8.js'

export { ParseFailure, type ParserOptions, type Tree } from './parse-tokens.js'

/** Parses `text` (a byte string) into its named trees, as Go's parse.Parse does. */
export function parseTrees(name: string, text: string, options: ParserOptions): Map<string, Tree> {
  const treeSet = new Map<string, Tree>()
  const lex = new Lexer(text)
  lex.options = {
    breakOK: !options.hasFunction('break'),
    continueOK: !options.hasFunction('continue'),
  }
  const p = new TreeParser(name, name, text, lex, treeSet, options, 0)
  p.parse()
  p.add()
  return treeSet
}

class TreeParser extends ExprParser {
  private sub(name: string): TreeParser {
    return new TreeParser(
      name,
      this.parseName,
      this.text,
      this.lex,
      this.treeSet,
      this.options,
      this.nesting,
    )
  }

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
    return {
      type: 'action',
      pos: token.pos,
      line: token.line,
      pipe: this.pipeline('command', 'rightDelim'),
    }
  }

  private loopControl(t: Item): Node {
    const typ = t.typ === 'break' ? 'break' : 'continue'
    const next = this.nextNonSpace()
    if (next.typ !== 'rightDelim') this.unexpected(next, `{{${typ}}}`)
    if (this.rangeDepth === 0) this.errorf(`{{${typ}}} outside {{range}}`)
    return { type: typ, pos: t.pos, line: t.line }
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
}

/** Go's parse.IsEmptyTree. */
export function isEmptyTree(n: Node | undefined): boolean {
  if (n === undefined) return true
  if (n.type === 'list') return n.nodes.every(isEmptyTree)
  if (n.type === 'text') return [...n.text].every((ch) => isSpace(ch.codePointAt(0) ?? 0))
  return false
}
