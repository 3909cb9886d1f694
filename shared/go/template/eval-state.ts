// Executor state: errors with Go's location context, the step budget and the variable stack.

import type { Arg, FuncContext, FuncMap } from './funcs.js'
import type { Node } from './nodes.js'
import { nodeString } from './nodes.js'
import { quote } from '../strconv.js'

export const MISSING: unique symbol = Symbol('missing')
export type Final = Arg | typeof MISSING

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

/** Execution state shared by the evaluator and the walker. */
export abstract class EvalState implements FuncContext {
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

  protected varValue(name: string): Arg {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      const v = this.vars[i]
      if (v?.name === name) return v.value
    }
    this.errorf(`undefined variable: ${name}`)
  }
}
