// Pipelines, commands and operands: the expression half of Go's parse.go.

import type { ArgNode, CommandNode, NumberNode, PipeNode, VariableNode } from './nodes.js'
import { nodeString } from './nodes.js'
import { parseNumberLiteral } from './number-literal.js'
import { TokenStream } from './parse-tokens.js'
import type { Item, ItemType } from './lexer.js'
import { quote, unquote } from '../strconv.js'
import { fromBytes } from '../utf8.js'

export abstract class ExprParser extends TokenStream {
  protected pipeline(context: string, end: ItemType): PipeNode {
    const token = this.peekNonSpace()
    const pipe: PipeNode = {
      type: 'pipe',
      pos: token.pos,
      line: token.line,
      isAssign: false,
      decl: [],
      cmds: [],
    }
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
        case 'bool':
        case 'charConstant':
        case 'complex':
        case 'dot':
        case 'field':
        case 'identifier':
        case 'number':
        case 'nil':
        case 'rawString':
        case 'string':
        case 'variable':
        case 'leftParen':
          this.backup()
          pipe.cmds.push(this.command())
          break
        default:
          this.unexpected(t, context)
      }
    }
  }

  protected checkPipeline(pipe: PipeNode, context: string): void {
    if (pipe.cmds.length === 0) this.errorf(`missing value for ${context}`)
    pipe.cmds.slice(1).forEach((c, i) => {
      const t = c.args[0]?.type
      if (t === 'bool' || t === 'dot' || t === 'nil' || t === 'number' || t === 'string') {
        this.errorf(`non executable command in pipeline stage ${i + 2}`)
      }
    })
  }

  protected command(): CommandNode {
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

  protected operand(): ArgNode | undefined {
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
      case 'bool':
      case 'string':
      case 'number':
      case 'nil':
      case 'dot':
        this.errorf(`unexpected . after term ${quote(nodeString(node))}`)
    }
    return { type: 'chain', pos, node, field: fields }
  }

  protected term(): ArgNode | undefined {
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
        if (this.stackDepth >= this.options.maxDepth)
          this.errorf('max expression depth exceeded', true)
        this.stackDepth++
        try {
          return this.pipeline('parenthesized pipeline', 'rightParen')
        } finally {
          this.stackDepth--
        }
      }
      case 'string':
      case 'rawString':
        return {
          type: 'string',
          pos: t.pos,
          quoted: fromBytes(t.val),
          text: this.unquoteOrFail(t.val),
        }
    }
    this.backup()
    return undefined
  }

  protected newVariable(pos: number, ident: string): VariableNode {
    return { type: 'variable', pos, ident: ident.split('.') }
  }

  protected useVar(pos: number, name: string): VariableNode {
    const v = this.newVariable(pos, name)
    const head = v.ident[0] ?? ''
    if (!this.vars.includes(head)) this.errorf(`undefined variable ${quote(head)}`)
    return v
  }

  protected unquoteOrFail(val: string): string {
    const bytes = unquote(val)
    if (bytes === undefined) this.errorf('invalid syntax')
    return fromBytes(bytes)
  }

  private newNumber(t: Item): NumberNode {
    const n = parseNumberLiteral(t)
    if (typeof n === 'string') this.errorf(n)
    return n
  }
}
