// Statement execution: a port of walk/walkIfOrWith/walkRange/walkTemplate from Go's text/template
// exec.go, with our budgets (steps, output size, template depth) on top.

import { LimitError } from './errors.js'
import { type ExecEnv, Evaluator } from './eval.js'
import { type Arg, Iface, unwrap } from './funcs.js'
import type { BranchNode, Node, TemplateNode } from './nodes.js'
import type { Tree } from './parser.js'
import { quote } from '../strconv.js'
import { sprint } from './fmt.js'
import { GoTypedInt, type GoValue, isTrue } from './values.js'

class BreakSignal {}
class ContinueSignal {}

const compareBytes = (a: string, b: string): number =>
  Buffer.compare(Buffer.from(a), Buffer.from(b))

export class Executor extends Evaluator {
  private out: string[] = []
  private outBytes = 0
  private depth = 0

  constructor(
    env: ExecEnv,
    private readonly trees: ReadonlyMap<string, Tree>,
    name: string,
  ) {
    super(env, name)
  }

  /** Runs the named tree against `data` and returns the output. */
  run(tree: Tree, data: GoValue): string {
    this.vars = [{ name: '$', value: data }]
    if (tree.root === undefined)
      this.errorf(`${quote(tree.name)} is an incomplete or empty template`)
    this.walk(data, tree.root)
    return this.out.join('')
  }

  private write(s: string): void {
    this.outBytes += Buffer.byteLength(s)
    if (this.outBytes > this.env.limits.maxOutputBytes) {
      this.errorf(`output exceeds ${this.env.limits.maxOutputBytes} bytes`, true)
    }
    this.out.push(s)
  }

  private walk(dot: Arg, node: Node): void {
    this.charge(1)
    this.at(node)
    switch (node.type) {
      case 'action': {
        const val = this.evalPipeline(dot, node.pipe)
        if (node.pipe.decl.length === 0) {
          this.at(node)
          let text: string
          try {
            text = this.printable(val)
          } catch (err) {
            if (err instanceof LimitError) this.errorf(err.message, true)
            throw err
          }
          this.write(text)
        }
        return
      }
      case 'break':
        throw new BreakSignal()
      case 'continue':
        throw new ContinueSignal()
      case 'if':
      case 'with':
        this.walkIfOrWith(dot, node)
        return
      case 'list':
        for (const n of node.nodes) this.walk(dot, n)
        return
      case 'range':
        this.walkRange(dot, node)
        return
      case 'template':
        this.walkTemplate(dot, node)
        return
      case 'text':
        this.write(node.text)
        return
    }
    this.errorf(`unknown node: ${node.type}`)
  }

  private walkIfOrWith(dot: Arg, node: BranchNode): void {
    const mark = this.vars.length
    try {
      const val = this.evalPipeline(dot, node.pipe)
      const [truth] = isTrue(val)
      if (truth) this.walk(node.type === 'with' ? val : dot, node.list)
      else if (node.elseList) this.walk(dot, node.elseList)
    } finally {
      this.vars.length = mark
    }
  }

  private walkRange(dot: Arg, r: BranchNode): void {
    this.at(r)
    const outer = this.vars.length
    try {
      const val = unwrap(this.evalPipeline(dot, r.pipe))
      const mark = this.vars.length
      const decl = r.pipe.decl
      const oneIteration = (index: Arg, elem: Arg): void => {
        this.at(r)
        this.charge(1)
        if (decl.length > 0) {
          if (r.pipe.isAssign) this.setVar(decl[0]?.ident[0] ?? '', decl.length > 1 ? index : elem)
          else this.setTopVar(1, elem)
        }
        if (decl.length > 1) {
          if (r.pipe.isAssign) this.setVar(decl[1]?.ident[0] ?? '', elem)
          else this.setTopVar(2, index)
        }
        try {
          this.walk(elem, r.list)
        } catch (e) {
          if (!(e instanceof ContinueSignal)) throw e
        } finally {
          this.vars.length = mark
        }
      }
      if (this.iterate(val, decl.length, oneIteration)) return
      if (r.elseList) this.walk(dot, r.elseList)
    } catch (e) {
      if (!(e instanceof BreakSignal)) throw e
    } finally {
      this.vars.length = outer
    }
  }

  /** Calls `each` per element; false when there was nothing to iterate (run the else branch). */
  private iterate(val: GoValue, nDecl: number, each: (index: Arg, elem: Arg) => void): boolean {
    if (typeof val === 'bigint' || val instanceof GoTypedInt) {
      if (nDecl > 1)
        this.errorf(`can't use ${sprint([val], 4096)} to iterate over more than one variable`)
      const n = typeof val === 'bigint' ? val : val.value
      for (let i = 0n; i < n; i++)
        each(null, typeof val === 'bigint' ? i : new GoTypedInt(val.type, i, val.unsigned))
      return n > 0n
    }
    if (Array.isArray(val)) {
      val.forEach((e, i) => each(BigInt(i), new Iface(e)))
      return val.length > 0
    }
    if (val instanceof Map) {
      for (const k of [...val.keys()].sort(compareBytes)) each(k, new Iface(val.get(k) ?? null))
      return val.size > 0
    }
    if (val === null) return false
    this.errorf(`range can't iterate over ${sprint([val], 4096)}`)
  }

  private walkTemplate(dot: Arg, t: TemplateNode): void {
    this.at(t)
    const tree = this.trees.get(t.name)
    if (tree === undefined) this.errorf(`template ${quote(t.name)} not defined`)
    const max = this.env.limits.maxTemplateDepth
    if (this.depth >= max) this.errorf(`exceeded maximum template depth (${max})`, true)
    const newDot = this.evalPipeline(dot, t.pipe)
    const saved = { vars: this.vars, name: this.tmplName }
    this.vars = [{ name: '$', value: newDot }]
    this.tmplName = t.name
    this.depth++
    try {
      if (tree.root === undefined)
        this.errorf(`${quote(t.name)} is an incomplete or empty template`)
      this.walk(newDot, tree.root)
    } finally {
      this.depth--
      this.vars = saved.vars
      this.tmplName = saved.name
    }
  }
}
