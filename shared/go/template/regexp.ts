// A thin adapter from re2js (a port of RE2/J, which ports Go's regexp) to what the Sprig functions need,
// for the three things re2js does not provide: Go's exact error text (re2js leaves out the expression
// after "expression too large" and "expression nests too deeply"), our bounds (a program-size limit
// that is checked before compiling, and work charged to the template's step budget, since re2js has
// no step hook), and loading re2js only when a template first uses a regexp (it is a large module).
// Matching itself is re2js's: RE2 syntax, leftmost-first submatches, linear time in the input.

import { createRequire } from 'node:module'
import type { RE2JS } from 're2js'
import { FuncError, LimitError } from './errors.js'

/** Most instructions a compiled regexp may have. deviation: Go allows far larger programs. */
export const MAX_PROGRAM_SIZE = 100_000

type Re2js = typeof import('re2js')
let re2js: Re2js | undefined

// Synchronous and on first use: template execution is synchronous. Inside a plugin bundle `require`
// is esbuild's, which resolves re2js to its lazy chunk (package.json spireAzure.lazy); compiled to ES
// modules (tests, dist/) it is Node's, through createRequire.
function loadRe2js(): Re2js {
  re2js ??= (
    typeof require === 'function' ? require('re2js') : createRequire(import.meta.url)('re2js')
  ) as Re2js
  return re2js
}

export interface CompiledRegexp {
  readonly expr: string
  readonly re: RE2JS
  /** subexpression names by index, '' for unnamed ones (Go's SubexpNames) */
  readonly names: readonly string[]
}

/**
 * regexp.Compile. Parse errors are FuncErrors with Go's text; a program over MAX_PROGRAM_SIZE is a
 * LimitError. Compiling is charged to the step budget, one step per instruction.
 */
export function compileRegexp(expr: string, charge: (steps: number) => void): CompiledRegexp {
  const tooLarge = (): LimitError =>
    new LimitError(`error parsing regexp: expression too large: \`${expr}\``)
  const scan = scanPattern(expr)
  // re2js compiles up to 1.4 M instructions (over a second): refuse what is certainly too large first
  if (scan.size > 2 * MAX_PROGRAM_SIZE) throw tooLarge()
  const { RE2JS, RE2JSSyntaxException } = loadRe2js()
  const renamed = renameDuplicates(expr, scan.named)
  let re: RE2JS
  try {
    re = RE2JS.compile(renamed.text)
  } catch (err) {
    if (!(err instanceof RE2JSSyntaxException)) throw err
    const what = err.getDescription()
    if (what === 'expression too large') throw tooLarge()
    // Go shows the whole expression for a too-deep nesting, nothing for a trailing backslash
    const shown = err.getPattern() ?? (what === 'expression nests too deeply' ? expr : '')
    throw new FuncError(`error parsing regexp: ${what}: \`${renamed.restore(shown)}\``)
  }
  const size = re.programSize()
  if (size > MAX_PROGRAM_SIZE) throw tooLarge()
  charge(size)
  const names = new Array<string>(re.groupCount() + 1).fill('')
  for (const [name, index] of Object.entries(re.namedGroups())) names[index] = renamed.restore(name)
  return { expr, re, names }
}

/**
 * Go lets several groups share a name (SubexpIndex and `${name}` take the first); re2js refuses it.
 * Each later use of a name gets a fresh one for re2js, and `restore` turns it back in what re2js says.
 */
function renameDuplicates(
  expr: string,
  named: readonly NamedGroup[],
): { text: string; restore: (s: string) => string } {
  const seen = new Set<string>()
  const fresh = new Map<string, string>()
  let text = ''
  let at = 0
  for (const g of named) {
    if (!seen.has(g.name)) {
      seen.add(g.name)
      continue
    }
    let k = fresh.size
    let alias = `${g.name}_${k}`
    while (expr.includes(alias)) alias = `${g.name}_${++k}`
    fresh.set(alias, g.name)
    text += expr.slice(at, g.at) + alias
    at = g.at + g.name.length
  }
  if (fresh.size === 0) return { text: expr, restore: (s) => s }
  const restore = (s: string): string => {
    let out = s
    for (const [alias, name] of fresh) out = out.split(alias).join(name)
    return out
  }
  return { text: text + expr.slice(at), restore }
}

/**
 * One search over `s` (UTF-16 offsets), Go's doExecute: the leftmost-first match starting at or after
 * `from`, as [start, end] pairs for the whole match and, with `groups`, each subexpression (-1 where it
 * did not take part); undefined without a match. Each engine pass is charged the code units it may
 * scan, from its start to the end of the input: re2js runs in time linear in that.
 */
export function searchRegexp(
  c: CompiledRegexp,
  s: string,
  from: number,
  groups: boolean,
  charge: (steps: number) => void,
): number[] | undefined {
  charge(s.length - from + 1)
  const m = c.re.matcher(s)
  if (!m.find(from)) return undefined
  const caps = [m.start(0), m.end(0)]
  if (groups && c.names.length > 1) {
    charge(s.length - (caps[0] ?? 0) + 1) // re2js runs a second pass for the submatches
    for (let g = 1; g < c.names.length; g++) caps.push(m.start(g), m.end(g))
  }
  return caps
}

interface NamedGroup {
  readonly at: number // index of the name in the pattern
  readonly name: string
}

/**
 * Scans a pattern's structure without compiling it: where its named groups are, and an upper bound
 * of the compiled program's size, from the pattern text alone, so that a huge program
 * is refused before re2js spends time and memory compiling it. It follows Go's compiler: one
 * instruction per character, class, escape or assertion, two per capture, up to two per `|`, `*`,
 * `+`, `?`, and `x{n,m}` expanded to n copies of x and m-n optional ones. Where Go's parser rejects
 * a repeat (a count over 1000, or nested counts whose product is over 1000) the size is 0: re2js
 * then reports that error without compiling.
 */
export function scanPattern(expr: string): { size: number; named: NamedGroup[] } {
  const named: NamedGroup[] = []
  interface Frame {
    total: number
    last: number // weight of the last atom, which a quantifier applies to
    lastRep: number // product of the {n,m} counts inside the last atom
    rep: number // largest such product in this frame
    capture: boolean
  }
  const frames: Frame[] = [{ total: 0, last: 0, lastRep: 1, rep: 1, capture: false }]
  const top = (): Frame => frames[frames.length - 1] as Frame
  const atom = (w: number, rep = 1): void => {
    const f = top()
    f.total += w
    f.last = w
    f.lastRep = rep
    f.rep = Math.max(f.rep, rep)
  }
  const quantify = (weight: number, rep: number): void => {
    const f = top()
    f.total += weight - f.last
    f.last = weight
    f.lastRep = rep
    f.rep = Math.max(f.rep, rep)
  }
  // after a backslash at i: the index past the escape
  const escapeEnd = (i: number): number => {
    const c = expr[i + 1] ?? ''
    if ((c === 'p' || c === 'P' || c === 'x') && expr[i + 2] === '{') {
      const close = expr.indexOf('}', i + 3)
      return close < 0 ? expr.length : close + 1
    }
    if (c === 'p' || c === 'P') return i + 3
    if (c === 'x') return i + 4
    if (c >= '0' && c <= '7') {
      let j = i + 2
      while (j < i + 4 && expr[j] !== undefined && expr[j]! >= '0' && expr[j]! <= '7') j++
      return j
    }
    return i + 2
  }
  let i = 0
  while (i < expr.length) {
    const c = expr[i]
    if (c === '\\' && expr[i + 1] === 'Q') {
      const close = expr.indexOf('\\E', i + 2)
      const end = close < 0 ? expr.length : close
      for (let k = i + 2; k < end; k++) atom(1)
      i = close < 0 ? end : end + 2
    } else if (c === '\\') {
      atom(1)
      i = escapeEnd(i)
    } else if (c === '[') {
      let j = i + 1
      if (expr[j] === '^') j++
      if (expr[j] === ']') j++
      while (j < expr.length && expr[j] !== ']') {
        if (expr[j] === '[' && expr[j + 1] === ':') {
          const close = expr.indexOf(':]', j + 2)
          j = close < 0 ? j + 1 : close + 2
        } else if (expr[j] === '\\') j = escapeEnd(j)
        else j++
      }
      atom(1)
      i = j + 1
    } else if (c === '(') {
      // `(?i)` only sets flags (a quantifier after it applies to the atom before); `(?:` and
      // `(?i:` group without capturing; `(`, `(?P<name>` and `(?<name>` capture
      const flags = /^\(\?[A-Za-z-]*([:)])/.exec(expr.slice(i, i + 16))
      if (flags?.[1] === ')') {
        i += flags[0].length
        continue
      }
      frames.push({ total: 0, last: 0, lastRep: 1, rep: 1, capture: !flags })
      const name = flags ? null : /^\(\?P?<([^>]*)>/.exec(expr.slice(i, i + 256))
      if (name)
        named.push({ at: i + name[0].length - 1 - (name[1] ?? '').length, name: name[1] ?? '' })
      i += flags ? flags[0].length : name ? name[0].length : 1
    } else if (c === ')') {
      if (frames.length > 1) {
        const f = frames.pop() as Frame
        atom((f.capture ? 2 : 0) + Math.max(f.total, 1), f.rep)
      }
      i++
    } else if (c === '|') {
      top().total += 2
      top().last = 0
      i++
    } else if (c === '*' || c === '+' || c === '?') {
      quantify(top().last + 2, top().lastRep)
      i += expr[i + 1] === '?' ? 2 : 1
    } else {
      const rep = c === '{' ? /^\{(\d+)(,(\d*))?\}/.exec(expr.slice(i, i + 24)) : null
      if (rep) {
        const n = Number(rep[1])
        const m = rep[2] === undefined ? n : rep[3] === '' ? -1 : Number(rep[3])
        const count = m < 0 ? n : m
        if (n > 1000 || m > 1000) return { size: 0, named }
        const f = top()
        const product = count >= 2 ? f.lastRep * count : f.lastRep
        if (product > 1000) return { size: 0, named }
        const w = f.last
        quantify(Math.max(1, m < 0 ? Math.max(n, 1) * w + 2 : n * w + (m - n) * (w + 1)), product)
        i += rep[0].length
        if (expr[i] === '?') i++
      } else {
        atom(1)
        i += (expr.codePointAt(i) ?? 0) > 0xffff ? 2 : 1
      }
    }
  }
  while (frames.length > 1) {
    const f = frames.pop() as Frame
    atom((f.capture ? 2 : 0) + Math.max(f.total, 1), f.rep)
  }
  return { size: top().total + 4, named }
}
