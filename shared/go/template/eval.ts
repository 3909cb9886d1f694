// Expression evaluation: evalPipeline/evalCommand/evalField from Go's text/template exec.go. Calls
// and arguments are in eval-call.ts; the walker (exec.ts) extends this class with the statements.

import { CallEvaluator } from './eval-call.js'
import { type Final, MISSING } from './eval-state.js'
import { type Arg, Iface, unwrap } from './funcs.js'
import { sprint } from './fmt.js'
import type { ChainNode, CommandNode, FieldNode, Node, PipeNode, VariableNode } from './nodes.js'
import { nodeString } from './nodes.js'
import { quote } from '../strconv.js'
import { GoNil, GoStruct, type GoValue, typeName } from './values.js'

export { ExecFailure, type ExecEnv, type ExecLimits, type MissingKey } from './eval-state.js'

export class Evaluator extends CallEvaluator {
  evalPipeline(dot: Arg, pipe: PipeNode | undefined): GoValue {
    if (pipe === undefined) return null
    this.at(pipe)
    let value: Final = MISSING
    for (const cmd of pipe.cmds) {
      const v: Arg = this.evalCommand(dot, cmd, value)
      value = v instanceof Iface ? v.value : v
    }
    const result = value === MISSING ? null : unwrap(value)
    for (const v of pipe.decl) {
      const name = v.ident[0] ?? ''
      if (pipe.isAssign) this.setVar(name, result)
      else this.push(name, result)
    }
    return result
  }

  protected notAFunction(args: readonly Node[], final: Final): void {
    if (args.length > 1 || final !== MISSING) {
      this.errorf(
        `can't give argument to non-function ${nodeString(args[0] ?? { type: 'dot', pos: 0 })}`,
      )
    }
  }

  protected evalCommand(dot: Arg, cmd: CommandNode, final: Final): Arg {
    this.charge(1)
    const first = cmd.args[0]
    if (first === undefined) this.errorf('empty command')
    switch (first.type) {
      case 'field':
        return this.evalFieldNode(dot, first, cmd.args, final)
      case 'chain':
        return this.evalChainNode(dot, first, cmd.args, final)
      case 'identifier':
        return this.evalFunction(dot, first, cmd, cmd.args, final)
      case 'pipe':
        this.notAFunction(cmd.args, final)
        return this.evalPipeline(dot, first)
      case 'variable':
        return this.evalVariableNode(first, cmd.args, final)
    }
    this.at(first)
    this.notAFunction(cmd.args, final)
    switch (first.type) {
      case 'bool':
        return first.value
      case 'dot':
        return dot
      case 'nil':
        this.errorf('nil is not a command')
      case 'number':
        return this.idealConstant(first)
      case 'string':
        return first.text
    }
  }

  protected evalFieldNode(dot: Arg, field: FieldNode, args: readonly Node[], final: Final): Arg {
    this.at(field)
    return this.evalFieldChain(dot, field.ident, args, final)
  }

  protected evalChainNode(dot: Arg, chain: ChainNode, args: readonly Node[], final: Final): Arg {
    this.at(chain)
    if (chain.node.type === 'nil')
      this.errorf(`indirection through explicit nil in ${nodeString(chain)}`)
    const pipe = this.evalArg(dot, undefined, chain.node)
    return this.evalFieldChain(pipe, chain.field, args, final)
  }

  protected evalVariableNode(v: VariableNode, args: readonly Node[], final: Final): Arg {
    this.at(v)
    const value = this.varValue(v.ident[0] ?? '')
    if (v.ident.length === 1) {
      this.notAFunction(args, final)
      return value
    }
    return this.evalFieldChain(value, v.ident.slice(1), args, final)
  }

  protected evalFieldChain(
    receiver: Arg,
    ident: readonly string[],
    args: readonly Node[],
    final: Final,
  ): Arg {
    let r = receiver
    for (let i = 0; i < ident.length - 1; i++) r = this.evalField(ident[i] ?? '', [], MISSING, r)
    return this.evalField(ident[ident.length - 1] ?? '', args, final, r)
  }

  protected evalField(fieldName: string, args: readonly Node[], final: Final, receiver: Arg): Arg {
    if (receiver === null) {
      if (this.env.missingKey === 'error')
        this.errorf(`nil data; no entry for key ${quote(fieldName)}`)
      return null
    }
    const typ = receiver instanceof Iface ? 'interface {}' : typeName(receiver)
    const value = unwrap(receiver)
    if (value === null) this.errorf(`nil pointer evaluating ${typ}.${fieldName}`)
    const hasArgs = args.length > 1 || final !== MISSING
    if (value instanceof GoStruct && value.fields.has(fieldName)) {
      if (hasArgs) this.errorf(`${fieldName} has arguments but cannot be invoked as function`)
      return value.fields.get(fieldName) ?? null
    }
    if (value instanceof Map) {
      if (hasArgs) this.errorf(`${fieldName} is not a method but has arguments`)
      if (value.has(fieldName)) return new Iface(value.get(fieldName) ?? null)
      if (this.env.missingKey === 'error')
        this.errorf(`map has no entry for key ${quote(fieldName)}`)
      return this.env.missingKey === 'zero' ? new Iface(null) : null
    }
    if (value instanceof GoNil) this.errorf(`nil pointer evaluating ${typ}.${fieldName}`)
    this.errorf(`can't evaluate field ${fieldName} in type ${typ}`)
  }

  /** printableValue + fmt.Fprint for an action's result. */
  protected printable(v: GoValue): string {
    if (v === null) return '<no value>'
    return sprint([v], this.env.limits.maxValueBytes)
  }
}
