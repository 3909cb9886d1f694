// Expression evaluation: a port of the evalPipeline/evalCommand/evalField/evalCall/evalArg family of
// Go's text/template exec.go. The walker (exec.ts) extends this class with the statements.

import { BUILTINS, truth } from './builtins.js'
import { LimitError } from './errors.js'
import {
  type Arg,
  type FuncContext,
  type FuncDef,
  type FuncMap,
  type GoType,
  Iface,
  unwrap,
} from './funcs.js'
import { sprint } from './fmt.js'
import type {
  ArgNode,
  ChainNode,
  CommandNode,
  FieldNode,
  IdentifierNode,
  Node,
  NumberNode,
  PipeNode,
  VariableNode,
} from './nodes.js'
import { nodeString } from './nodes.js'
import { quote } from './strconv.js'
import { GoNil, GoStruct, type GoValue, typeName } from './values.js'

export const MISSING: unique symbol = Symbol('missing')
type Final = Arg | typeof MISSING

/** Go's Option("missingkey=..."): what a missing map key evaluates to. */
export type MissingKey = 'default' | 'zero' | 'error'

export interface ExecLimits {
  readonly maxSteps: number
  readonly maxOutputBytes: number
  readonly maxValueBytes: number
  readonly maxTemplateDepth: number
}

/** What the executor needs from a parsed template set. */
export interface ExecEnv {
  readonly parseName: string
  readonly text: string // byte string, for error positions
  readonly funcs: FuncMap
  readonly missingKey: MissingKey
  readonly limits: ExecLimits
}

/** An execution failure; `message` is the complete Go-style text. */
export class ExecFailure extends Error {
  constructor(
    message: string,
    readonly limit = false,
  ) {
    super(message)
  }
}

interface Variable {
  readonly name: string
  value: Arg
}

const canBeNil = (t: GoType): boolean =>
  t !== 'string' && t !== 'int' && t !== 'bool' && t !== 'float64'

function zeroOf(t: GoType): Arg {
  if (t === 'map[string]interface {}') return new Map()
  if (t === '[]interface {}' || t === '[]string') return []
  return null
}

const assignable = (v: Arg, t: GoType): boolean =>
  t === 'interface {}' || (!(v instanceof Iface) && v !== null && typeName(v) === t)

const isHexInt = (s: string): boolean => /^0[xX]/.test(s) && s.length > 2 && !/[pP]/.test(s)

export class Evaluator implements FuncContext {
  protected node: Node | undefined
  protected vars: Variable[] = []
  protected tmplName: string
  protected steps = 0
  readonly maxValueBytes: number

  constructor(
    protected readonly env: ExecEnv,
    name: string,
  ) {
    this.tmplName = name
    this.maxValueBytes = env.limits.maxValueBytes
  }

  // --- errors and budget ---

  protected at(n: Node): void {
    this.node = n
  }

  errorf(message: string, limit = false): never {
    const name = this.tmplName
    if (this.node === undefined) throw new ExecFailure(`template: ${name}: ${message}`, limit)
    const prefix = this.env.text.slice(0, this.node.pos)
    const nl = prefix.lastIndexOf('\n')
    const col = nl < 0 ? this.node.pos : this.node.pos - (nl + 1)
    const line = 1 + (prefix.split('\n').length - 1)
    const location = `${this.env.parseName}:${line}:${col}`
    throw new ExecFailure(
      `template: ${location}: executing ${quote(name)} at <${nodeString(this.node)}>: ${message}`,
      limit,
    )
  }

  charge(n: number): void {
    this.steps += n
    if (this.steps > this.env.limits.maxSteps) {
      this.errorf(`execution exceeded ${this.env.limits.maxSteps} steps`, true)
    }
  }

  // --- variables ---

  protected push(name: string, value: Arg): void {
    this.vars.push({ name, value })
  }
  protected setVar(name: string, value: Arg): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      const v = this.vars[i]
      if (v?.name === name) {
        v.value = value
        return
      }
    }
    this.errorf(`undefined variable: ${name}`)
  }
  protected setTopVar(n: number, value: Arg): void {
    const v = this.vars[this.vars.length - n]
    if (v) v.value = value
  }
  private varValue(name: string): Arg {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      const v = this.vars[i]
      if (v?.name === name) return v.value
    }
    this.errorf(`undefined variable: ${name}`)
  }

  // --- pipelines and commands ---

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

  private notAFunction(args: readonly Node[], final: Final): void {
    if (args.length > 1 || final !== MISSING) {
      this.errorf(
        `can't give argument to non-function ${nodeString(args[0] ?? { type: 'dot', pos: 0 })}`,
      )
    }
  }

  private evalCommand(dot: Arg, cmd: CommandNode, final: Final): Arg {
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

  private idealConstant(c: NumberNode): GoValue {
    this.at(c)
    if (c.isFloat && !isHexInt(c.text) && !c.text.startsWith("'") && /[.eEpP]/.test(c.text))
      return c.float64
    if (c.isInt) return c.int64
    if (c.isUint) this.errorf(`${c.text} overflows int`)
    return null
  }

  private evalFieldNode(dot: Arg, field: FieldNode, args: readonly Node[], final: Final): Arg {
    this.at(field)
    return this.evalFieldChain(dot, field.ident, args, final)
  }

  private evalChainNode(dot: Arg, chain: ChainNode, args: readonly Node[], final: Final): Arg {
    this.at(chain)
    if (chain.node.type === 'nil')
      this.errorf(`indirection through explicit nil in ${nodeString(chain)}`)
    const pipe = this.evalArg(dot, undefined, chain.node)
    return this.evalFieldChain(pipe, chain.field, args, final)
  }

  private evalVariableNode(v: VariableNode, args: readonly Node[], final: Final): Arg {
    this.at(v)
    const value = this.varValue(v.ident[0] ?? '')
    if (v.ident.length === 1) {
      this.notAFunction(args, final)
      return value
    }
    return this.evalFieldChain(value, v.ident.slice(1), args, final)
  }

  private evalFieldChain(
    receiver: Arg,
    ident: readonly string[],
    args: readonly Node[],
    final: Final,
  ): Arg {
    let r = receiver
    for (let i = 0; i < ident.length - 1; i++) r = this.evalField(ident[i] ?? '', [], MISSING, r)
    return this.evalField(ident[ident.length - 1] ?? '', args, final, r)
  }

  private evalField(fieldName: string, args: readonly Node[], final: Final, receiver: Arg): Arg {
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

  // --- functions ---

  private lookupFunction(name: string): [FuncDef, boolean] | undefined {
    const own = Object.hasOwn(this.env.funcs, name) ? this.env.funcs[name] : undefined
    if (own) return [own, false]
    const builtin = Object.hasOwn(BUILTINS, name) ? BUILTINS[name] : undefined
    return builtin ? [builtin, true] : undefined
  }

  private evalFunction(
    dot: Arg,
    node: IdentifierNode,
    cmd: Node,
    args: readonly ArgNode[] | undefined,
    final: Final,
  ): Arg {
    this.at(node)
    const found = this.lookupFunction(node.ident)
    if (!found) this.errorf(`${quote(node.ident)} is not a defined function`)
    return this.evalCall(dot, found[0], found[1], cmd, node.ident, args, final)
  }

  private evalCall(
    dot: Arg,
    fn: FuncDef,
    isBuiltin: boolean,
    node: Node,
    name: string,
    allArgs: readonly ArgNode[] | undefined,
    final: Final,
  ): Arg {
    const args = allArgs === undefined ? [] : allArgs.slice(1)
    const numIn = args.length + (final === MISSING ? 0 : 1)
    let numFixed = args.length
    if (fn.variadic !== undefined) {
      numFixed = fn.params.length
      if (numIn < numFixed)
        this.errorf(
          `wrong number of args for ${name}: want at least ${fn.params.length} got ${args.length}`,
        )
    } else if (numIn !== fn.params.length) {
      this.errorf(`wrong number of args for ${name}: want ${fn.params.length} got ${numIn}`)
    }
    if (isBuiltin && (name === 'and' || name === 'or')) {
      let v: Arg = null
      for (const a of args) {
        v = this.evalArg(dot, 'reflect.Value', a)
        if (truth(v) === (name === 'or')) return v
      }
      if (final !== MISSING) v = this.validateType(final, 'reflect.Value')
      return v
    }
    const argv: Arg[] = []
    let i = 0
    for (; i < numFixed && i < args.length; i++) argv.push(this.evalArg(dot, fn.params[i], args[i]))
    if (fn.variadic !== undefined)
      for (; i < args.length; i++) argv.push(this.evalArg(dot, fn.variadic, args[i]))
    if (final !== MISSING) {
      let t = fn.params[fn.params.length - 1]
      if (fn.variadic !== undefined) t = numIn - 1 < numFixed ? fn.params[numIn - 1] : fn.variadic
      argv.push(this.validateType(final, t ?? 'interface {}'))
    }
    if (isBuiltin && name === 'call') {
      const callee = args[0]
      argv.unshift(
        callee !== undefined ? nodeString(callee) : typeof final === 'string' ? final : '',
      )
    }
    const converted = argv.map((a, k) =>
      this.paramType(fn, k) === 'reflect.Value' ? a : unwrap(a),
    )
    let result: Arg
    try {
      result = fn.call(converted, this)
    } catch (err) {
      if (err instanceof ExecFailure) throw err
      this.at(node)
      if (err instanceof LimitError) this.errorf(`error calling ${name}: ${err.message}`, true)
      this.errorf(`error calling ${name}: ${err instanceof Error ? err.message : String(err)}`)
    }
    if (fn.result === 'interface {}') return result instanceof Iface ? result : new Iface(result)
    return fn.result === 'reflect.Value' ? result : unwrap(result)
  }

  private paramType(fn: FuncDef, k: number): GoType | undefined {
    return k < fn.params.length ? fn.params[k] : fn.variadic
  }

  // --- arguments ---

  private validateType(value: Arg, typ: GoType | undefined): Arg {
    if (value === null) {
      if (typ === undefined) return null
      if (canBeNil(typ)) return zeroOf(typ)
      this.errorf(`invalid value; expected ${typ}`)
    }
    if (typ === undefined || typ === 'reflect.Value' || assignable(value, typ)) return value
    let v: Arg = value
    if (v instanceof Iface && v.value !== null) {
      v = v.value
      if (assignable(v, typ)) return v
    }
    this.errorf(
      `wrong type for value; expected ${typ}; got ${v instanceof Iface ? 'interface {}' : typeName(v)}`,
    )
  }

  protected evalArg(dot: Arg, typ: GoType | undefined, n: ArgNode | undefined): Arg {
    if (n === undefined) this.errorf('missing argument')
    this.at(n)
    switch (n.type) {
      case 'dot':
        return this.validateType(dot, typ)
      case 'nil':
        if (typ === undefined || canBeNil(typ)) return typ === undefined ? null : zeroOf(typ)
        this.errorf(`cannot assign nil to ${typ}`)
      case 'field':
        return this.validateType(this.evalFieldNode(dot, n, [n], MISSING), typ)
      case 'variable':
        return this.validateType(this.evalVariableNode(n, [], MISSING), typ)
      case 'pipe':
        return this.validateType(this.evalPipeline(dot, n), typ)
      case 'identifier':
        return this.validateType(this.evalFunction(dot, n, n, undefined, MISSING), typ)
      case 'chain':
        return this.validateType(this.evalChainNode(dot, n, [], MISSING), typ)
    }
    switch (typ) {
      case 'bool':
        if (n.type === 'bool') return n.value
        this.errorf(`expected bool; found ${nodeString(n)}`)
      case 'string':
        if (n.type === 'string') return n.text
        this.errorf(`expected string; found ${nodeString(n)}`)
      case 'int':
        if (n.type === 'number' && n.isInt) return n.int64
        this.errorf(`expected integer; found ${nodeString(n)}`)
      case 'float64':
        if (n.type === 'number' && n.isFloat) return n.float64
        this.errorf(`expected float; found ${nodeString(n)}`)
      case 'interface {}':
      case 'reflect.Value':
        return this.evalEmptyInterface(dot, n)
    }
    this.errorf(`can't handle ${nodeString(n)} for arg of type ${typ ?? '<nil>'}`)
  }

  private evalEmptyInterface(dot: Arg, n: ArgNode): Arg {
    this.at(n)
    switch (n.type) {
      case 'bool':
        return n.value
      case 'number':
        return this.idealConstant(n)
      case 'string':
        return n.text
      default:
        return this.evalArg(dot, 'interface {}', n)
    }
  }

  /** printableValue + fmt.Fprint for an action's result. */
  protected printable(v: GoValue): string {
    if (v === null) return '<no value>'
    return sprint([v], this.env.limits.maxValueBytes)
  }
}
