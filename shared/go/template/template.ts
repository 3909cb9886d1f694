// parseTemplate: Go's template.New(name).Option(...).Funcs(...).Parse(text), with resource limits.

import { BUILTINS } from './builtins.js'
import { LimitError, TemplateError } from './errors.js'
import { type ExecEnv, ExecFailure, type MissingKey } from './eval.js'
import { Executor } from './exec.js'
import type { FuncMap } from './funcs.js'
import { ParseFailure, type Tree, parseTrees } from './parser.js'
import { quote } from '../strconv.js'
import { toBytes } from '../utf8.js'
import { type GoValue, toGoValue } from './values.js'

/** Bounds that keep a hostile template or data set from using unbounded time or memory. */
export interface TemplateLimits {
  /** Longest template text, in UTF-8 bytes. */
  readonly maxTemplateBytes: number
  /** Deepest nesting of parentheses, and of if/range/with/define/block. */
  readonly maxDepth: number
  /** Most execution steps (nodes walked, commands run, loop iterations). */
  readonly maxSteps: number
  /** Longest output, in UTF-8 bytes. */
  readonly maxOutputBytes: number
  /** Longest string or list a single function call may build. */
  readonly maxValueBytes: number
  /** Deepest {{template}} recursion. */
  readonly maxTemplateDepth: number
  /** Most values, and deepest nesting, in the data passed to execute(). */
  readonly maxDataValues: number
  readonly maxDataDepth: number
}

export const DEFAULT_TEMPLATE_LIMITS: TemplateLimits = {
  maxTemplateBytes: 64 * 1024,
  maxDepth: 100,
  maxSteps: 100_000,
  maxOutputBytes: 64 * 1024,
  maxValueBytes: 64 * 1024,
  maxTemplateDepth: 100,
  maxDataValues: 10_000,
  maxDataDepth: 32,
}

export interface ParseTemplateOptions {
  /** Functions beyond Go's builtins; these shadow builtins of the same name (as Funcs does). */
  readonly funcs?: FuncMap
  /** Go's Option("missingkey=..."); Go's default is 'default' (a missing key prints `<no value>`). */
  readonly missingKey?: MissingKey
  readonly limits?: Partial<TemplateLimits>
}

/** A parsed template. */
export interface Template {
  readonly name: string
  /** Executes against `data`; throws TemplateError (phase 'execute') on failure. */
  execute(data: unknown): string
}

class ParsedTemplate implements Template {
  constructor(
    readonly name: string,
    private readonly trees: ReadonlyMap<string, Tree>,
    private readonly env: ExecEnv,
    private readonly limits: TemplateLimits,
  ) {}

  execute(data: unknown): string {
    let value: GoValue
    try {
      value = toGoValue(data, {
        nodes: this.limits.maxDataValues,
        maxDepth: this.limits.maxDataDepth,
      })
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      throw new TemplateError('execute', `template: ${this.name}: ${message}`, {
        limit: err instanceof LimitError,
      })
    }
    const tree = this.trees.get(this.name)
    if (tree === undefined) {
      throw new TemplateError(
        'execute',
        `template: ${this.name}: ${quote(this.name)} is an incomplete or empty template`,
      )
    }
    try {
      return new Executor(this.env, this.trees, this.name).run(tree, value)
    } catch (err) {
      if (err instanceof ExecFailure)
        throw new TemplateError('execute', err.message, { limit: err.limit })
      if (err instanceof LimitError)
        throw new TemplateError('execute', `template: ${this.name}: ${err.message}`, {
          limit: true,
        })
      if (isStackOverflow(err)) {
        throw new TemplateError('execute', `template: ${this.name}: ${err.message}`, {
          limit: true,
        })
      }
      throw err
    }
  }
}

const isStackOverflow = (err: unknown): err is RangeError =>
  err instanceof RangeError && /call stack/i.test(err.message)

function checkLimits(limits: TemplateLimits): void {
  for (const [key, v] of Object.entries(limits)) {
    if (!Number.isSafeInteger(v) || v <= 0)
      throw new TypeError(`template limit ${key} must be a positive integer`)
  }
}

/** Parses `text` as a Go text/template named `name`. Throws TemplateError (phase 'parse'). */
export function parseTemplate(
  name: string,
  text: string,
  options: ParseTemplateOptions = {},
): Template {
  const limits: TemplateLimits = { ...DEFAULT_TEMPLATE_LIMITS, ...options.limits }
  checkLimits(limits)
  const funcs: FuncMap = options.funcs ?? {}
  const bytes = toBytes(text)
  if (bytes.length > limits.maxTemplateBytes) {
    throw new TemplateError(
      'parse',
      `template: ${name}: template text exceeds ${limits.maxTemplateBytes} bytes`,
      {
        limit: true,
      },
    )
  }
  const hasFunction = (fn: string): boolean =>
    Object.hasOwn(funcs, fn) || Object.hasOwn(BUILTINS, fn)
  let trees: Map<string, Tree>
  try {
    trees = parseTrees(name, bytes, { hasFunction, maxDepth: limits.maxDepth })
  } catch (err) {
    if (err instanceof ParseFailure)
      throw new TemplateError('parse', err.message, { limit: err.limit })
    if (isStackOverflow(err))
      throw new TemplateError('parse', `template: ${name}: ${err.message}`, { limit: true })
    throw err
  }
  const env: ExecEnv = {
    parseName: name,
    text: bytes,
    funcs,
    missingKey: options.missingKey ?? 'default',
    limits,
  }
  return new ParsedTemplate(name, trees, env, limits)
}
