// Parse tree nodes, mirroring Go's text/template/parse node types, and their String() forms (Go uses
// them as the `<...>` context in execution errors).

import { quote } from '../strconv.js'

interface At {
  readonly pos: number // byte offset in the template text
}

export interface ListNode extends At {
  readonly type: 'list'
  readonly nodes: Node[]
}
export interface TextNode extends At {
  readonly type: 'text'
  readonly text: string
}
export interface PipeNode extends At {
  readonly type: 'pipe'
  readonly line: number
  isAssign: boolean
  readonly decl: VariableNode[]
  readonly cmds: CommandNode[]
}
export interface ActionNode extends At {
  readonly type: 'action'
  readonly line: number
  readonly pipe: PipeNode
}
export interface CommandNode extends At {
  readonly type: 'command'
  readonly args: ArgNode[]
}
export interface IdentifierNode extends At {
  readonly type: 'identifier'
  readonly ident: string
}
export interface VariableNode extends At {
  readonly type: 'variable'
  readonly ident: readonly string[] // ['$x', 'Field', ...]
}
export interface DotNode extends At {
  readonly type: 'dot'
}
export interface NilNode extends At {
  readonly type: 'nil'
}
export interface FieldNode extends At {
  readonly type: 'field'
  readonly ident: readonly string[]
}
export interface ChainNode extends At {
  readonly type: 'chain'
  readonly node: ArgNode
  readonly field: string[]
}
export interface BoolNode extends At {
  readonly type: 'bool'
  readonly value: boolean
}
export interface NumberNode extends At {
  readonly type: 'number'
  readonly text: string
  readonly isInt: boolean
  readonly isUint: boolean
  readonly isFloat: boolean
  readonly int64: bigint
  readonly uint64: bigint
  readonly float64: number
}
export interface StringNode extends At {
  readonly type: 'string'
  readonly quoted: string
  readonly text: string
}
export interface EndNode extends At {
  readonly type: 'end'
}
export interface ElseNode extends At {
  readonly type: 'else'
  readonly line: number
}
export interface BranchNode extends At {
  readonly type: 'if' | 'range' | 'with'
  readonly line: number
  readonly pipe: PipeNode
  readonly list: ListNode
  readonly elseList: ListNode | undefined
}
export interface LoopControlNode extends At {
  readonly type: 'break' | 'continue'
  readonly line: number
}
export interface TemplateNode extends At {
  readonly type: 'template'
  readonly line: number
  readonly name: string
  readonly pipe: PipeNode | undefined
}

/** Operands: what a command's arguments can be. */
export type ArgNode =
  | IdentifierNode
  | VariableNode
  | DotNode
  | NilNode
  | FieldNode
  | ChainNode
  | BoolNode
  | NumberNode
  | StringNode
  | PipeNode

export type Node =
  | ArgNode
  | ListNode
  | TextNode
  | ActionNode
  | CommandNode
  | EndNode
  | ElseNode
  | BranchNode
  | LoopControlNode
  | TemplateNode

/** Go's Node.String(). */
export function nodeString(n: Node): string {
  switch (n.type) {
    case 'list':
      return n.nodes.map(nodeString).join('')
    case 'text':
      return n.text
    case 'pipe': {
      let s = ''
      if (n.decl.length > 0) s = n.decl.map(nodeString).join(', ') + (n.isAssign ? ' = ' : ' := ')
      return s + n.cmds.map(nodeString).join(' | ')
    }
    case 'action':
      return `{{${nodeString(n.pipe)}}}`
    case 'command':
      return n.args.map((a) => (a.type === 'pipe' ? `(${nodeString(a)})` : nodeString(a))).join(' ')
    case 'identifier':
      return n.ident
    case 'variable':
      return n.ident.join('.')
    case 'dot':
      return '.'
    case 'nil':
      return 'nil'
    case 'field':
      return n.ident.map((id) => '.' + id).join('')
    case 'chain': {
      const base = n.node.type === 'pipe' ? `(${nodeString(n.node)})` : nodeString(n.node)
      return base + n.field.map((f) => '.' + f).join('')
    }
    case 'bool':
      return n.value ? 'true' : 'false'
    case 'number':
      return n.text
    case 'string':
      return n.quoted
    case 'end':
      return '{{end}}'
    case 'else':
      return '{{else}}'
    case 'if':
    case 'range':
    case 'with': {
      const elsePart = n.elseList ? '{{else}}' + nodeString(n.elseList) : ''
      return `{{${n.type} ${nodeString(n.pipe)}}}${nodeString(n.list)}${elsePart}{{end}}`
    }
    case 'break':
    case 'continue':
      return `{{${n.type}}}`
    case 'template':
      return `{{template ${quote(n.name)}${n.pipe ? ' ' + nodeString(n.pipe) : ''}}}`
  }
}
