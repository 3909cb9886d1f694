// Function calls and argument conversion: evalFunction/evalCall/validateType/evalArg from Go's
// text/template exec.go, including its error texts.

import { BUILTINS, truth } from './builtins.js'
import { LimitError } from './errors.js'
import { EvalState, ExecFailure, type Final, MISSING } from './eval-state.js'
import { type Arg, type FuncDef, type GoType, Iface, unwrap } from './funcs.js'
import type {
  ArgNode,
  ChainNode,
  FieldNode,
  IdentifierNode,
  Node,
  NumberNode,
  PipeNode,
  VariableNode,
} from './nodes.js'
import { nodeString } from './nodes.js'
import { quote } from '../strconv.js'
import { type GoValue, typeName } from './values.js'

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

export abstract class CallEvaluator extends EvalState {
  abstract evalPipeline(dot: Arg, pipe: PipeNode | undefined): GoValue
  protected abstract evalFieldNode(
    dot: Arg,
    field: FieldNode,
    args: readonly Node[],
    final: Final,
  ): Arg
  protected abstract evalChainNode(
    dot: Arg,
    chain: ChainNode,
    args: readonly Node[],
    final: Final,
  ): Arg
  protected abstract evalVariableNode(v: VariableNode, args: readonly Node[], final: Final): Arg

  protected idealConstant(c: NumberNode): GoValue {
    this.at(c)
    if (c.isFloat && !isHexInt(c.text) && !c.text.startsWith("'") && /[.eEpP]/.test(c.text))
      return c.float64
    if (c.isInt) return c.int64
    if (c.isUint) this.errorf(`${c.text} overflows int`)
    return null
  }

  protected lookupFunction(name: string): [FuncDef, boolean] | undefined {
    const own = Object.hasOwn(this.env.funcs, name) ? this.env.funcs[name] : undefined
    if (own) return [own, false]
    const builtin = Object.hasOwn(BUILTINS, name) ? BUILTINS[name] : undefined
    return builtin ? [builtin, true] : undefined
  }

  protected evalFunction(
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

  protected evalCall(
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

  protected paramType(fn: FuncDef, k: number): GoType | undefined {
    return k < fn.params.length ? fn.params[k] : fn.variadic
  }

  protected validateType(value: Arg, typ: GoType | undefined): Arg {
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

  protected evalEmptyInterface(dot: Arg, n: ArgNode): Arg {
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
}
