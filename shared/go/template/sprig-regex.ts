// Sprig's regex functions with Go's regexp semantics: matching by re2js (regexp.ts), and Go's rules for
// successive empty matches, `$1`/`${name}` expansion and Split on top. Offsets are UTF-16 indices.

import { FuncError } from './errors.js'
import { type FuncContext, type FuncMap, checkSize, fn, int, str } from './funcs.js'
import { type CompiledRegexp, compileRegexp, searchRegexp } from './regexp.js'
import { canBackquote, quote } from '../strconv.js'
import { isDigit, isLetter } from '../unicode.js'

/** regexp.Compile. */
const compile = (ctx: FuncContext, expr: string): CompiledRegexp =>
  compileRegexp(expr, (n) => ctx.charge(n))

/** regexp.MustCompile: its panic text. */
function mustCompile(ctx: FuncContext, expr: string): CompiledRegexp {
  try {
    return compile(ctx, expr)
  } catch (err) {
    if (!(err instanceof FuncError)) throw err
    const q = canBackquote(expr) ? '`' + expr + '`' : quote(expr)
    throw new FuncError(`regexp: Compile(${q}): ${err.message}`)
  }
}

/** A match: groups[i] is [start, end], or undefined where group i did not take part. */
interface RegexpMatch {
  readonly start: number
  readonly end: number
  readonly groups: readonly ([number, number] | undefined)[]
}

function search(
  ctx: FuncContext,
  c: CompiledRegexp,
  s: string,
  from: number,
  groups = false,
): RegexpMatch | undefined {
  const caps = searchRegexp(c, s, from, groups, (n) => ctx.charge(n))
  if (caps === undefined) return undefined
  const pairs: ([number, number] | undefined)[] = []
  for (let g = 0; 2 * g < caps.length; g++) {
    const a = caps[2 * g] ?? -1
    const b = caps[2 * g + 1] ?? -1
    pairs.push(a >= 0 && b >= 0 ? [a, b] : undefined)
  }
  return { start: caps[0] ?? 0, end: caps[1] ?? 0, groups: pairs }
}

function prepare(ctx: FuncContext, s: string): string {
  checkSize(ctx, s.length, 'regexp input')
  return s
}

/** The width of the rune at `pos` in UTF-16 units; 0 at the end (utf8.DecodeRuneInString's width). */
const runeWidth = (s: string, pos: number): number =>
  pos >= s.length ? 0 : (s.codePointAt(pos) ?? 0) > 0xffff ? 2 : 1

/** Go's allMatches: successive matches; an empty match right after a match is skipped. */
function allMatches(ctx: FuncContext, c: CompiledRegexp, s: string, n: number): RegexpMatch[] {
  const end = s.length
  const limit = n < 0 ? end + 1 : n
  const out: RegexpMatch[] = []
  let prevMatchEnd = -1
  for (let pos = 0; out.length < limit && pos <= end;) {
    const m = search(ctx, c, s, pos)
    if (!m) break
    let accept = true
    if (m.end === pos) {
      if (m.start === prevMatchEnd) accept = false
      const width = runeWidth(s, pos)
      pos = width > 0 ? pos + width : end + 1
    } else pos = m.end
    prevMatchEnd = m.end
    if (accept) out.push(m)
  }
  return out
}

/** Regexp.Expand's template rules for ReplaceAllString. */
function expand(c: CompiledRegexp, template: string, s: string, m: RegexpMatch): string {
  const group = (i: number): string => {
    const g = m.groups[i]
    return g ? s.slice(g[0], g[1]) : ''
  }
  let out = ''
  let t = template
  for (;;) {
    const k = t.indexOf('$')
    if (k < 0) break
    out += t.slice(0, k)
    t = t.slice(k + 1)
    if (t.startsWith('$')) {
      out += '$'
      t = t.slice(1)
      continue
    }
    const brace = t.startsWith('{')
    const body = brace ? t.slice(1) : t
    let i = 0
    for (const ch of body) {
      const r = ch.codePointAt(0) ?? 0
      if (!isLetter(r) && !isDigit(r) && r !== 0x5f) break
      i += ch.length
    }
    if (i === 0 || (brace && body[i] !== '}')) {
      out += '$'
      continue
    }
    const name = body.slice(0, i)
    t = body.slice(i + (brace ? 1 : 0))
    let num = /^[0-9]+$/.test(name) && name.length <= 8 ? Number(name) : -1
    if (name.length > 1 && name[0] === '0') num = -1
    const idx = num >= 0 ? num : c.names.indexOf(name, 1)
    if (idx >= 0) out += group(idx)
  }
  return out + t
}

/** Regexp.ReplaceAllString / ReplaceAllLiteralString; `groups` when the replacement reads them. */
function replaceAll(
  ctx: FuncContext,
  c: CompiledRegexp,
  s: string,
  groups: boolean,
  repl: (m: RegexpMatch) => string,
): string {
  prepare(ctx, s)
  let out = ''
  let lastMatchEnd = 0
  let searchPos = 0
  while (searchPos <= s.length) {
    const m = search(ctx, c, s, searchPos, groups)
    if (!m) break
    out += s.slice(lastMatchEnd, m.start)
    if (m.end > lastMatchEnd || m.start === 0) out += repl(m)
    checkSize(ctx, out.length, 'regexReplaceAll')
    lastMatchEnd = m.end
    const width = runeWidth(s, searchPos)
    if (searchPos + width > m.end) searchPos += width
    else if (searchPos + 1 > m.end) searchPos++
    else searchPos = m.end
  }
  return out + s.slice(lastMatchEnd)
}

/** Regexp.Split. */
function split(ctx: FuncContext, c: CompiledRegexp, s: string, n: number): string[] {
  if (n === 0) return []
  if (c.expr.length > 0 && s.length === 0) return ['']
  const parts: string[] = []
  let beg = 0
  let end = 0
  for (const m of allMatches(ctx, c, prepare(ctx, s), n)) {
    if (n > 0 && parts.length === n - 1) break
    end = m.start
    if (m.end !== 0) parts.push(s.slice(beg, end))
    beg = m.end
  }
  if (end !== s.length) parts.push(s.slice(beg))
  return parts
}

const S = 'string'
const LIST = '[]string'

type Compiler = (ctx: FuncContext, expr: string) => CompiledRegexp

const findAll = (ctx: FuncContext, cc: Compiler, re: string, s: string, n: number): string[] =>
  allMatches(ctx, cc(ctx, re), prepare(ctx, s), n).map((m) => s.slice(m.start, m.end))

const findOne = (ctx: FuncContext, cc: Compiler, re: string, s: string): string => {
  const m = search(ctx, cc(ctx, re), prepare(ctx, s), 0)
  return m ? s.slice(m.start, m.end) : ''
}

const matches = (ctx: FuncContext, re: string, s: string): boolean =>
  search(ctx, compile(ctx, re), prepare(ctx, s), 0) !== undefined

/** ReplaceAllString: submatches are found only when the replacement has a `$`, as in Go. */
const replaceExpand = (
  ctx: FuncContext,
  cc: Compiler,
  re: string,
  s: string,
  r: string,
): string => {
  const c = cc(ctx, re)
  return replaceAll(ctx, c, s, r.includes('$'), (m) => expand(c, r, s, m))
}

const replaceLiteral = (ctx: FuncContext, cc: Compiler, re: string, s: string, r: string): string =>
  replaceAll(ctx, cc(ctx, re), s, false, () => r)

export const SPRIG_REGEX_FUNCS: FuncMap = {
  regexMatch: fn([S, S], 'bool', ([re, s], ctx) => {
    try {
      return matches(ctx, str(re), str(s))
    } catch (err) {
      if (err instanceof FuncError) return false
      throw err
    }
  }),
  mustRegexMatch: fn([S, S], 'bool', ([re, s], ctx) => matches(ctx, str(re), str(s))),
  regexFindAll: fn([S, S, 'int'], LIST, ([re, s, n], ctx) =>
    findAll(ctx, mustCompile, str(re), str(s), int(n)),
  ),
  mustRegexFindAll: fn([S, S, 'int'], LIST, ([re, s, n], ctx) =>
    findAll(ctx, compile, str(re), str(s), int(n)),
  ),
  regexFind: fn([S, S], S, ([re, s], ctx) => findOne(ctx, mustCompile, str(re), str(s))),
  mustRegexFind: fn([S, S], S, ([re, s], ctx) => findOne(ctx, compile, str(re), str(s))),
  regexReplaceAll: fn([S, S, S], S, ([re, s, r], ctx) =>
    replaceExpand(ctx, mustCompile, str(re), str(s), str(r)),
  ),
  mustRegexReplaceAll: fn([S, S, S], S, ([re, s, r], ctx) =>
    replaceExpand(ctx, compile, str(re), str(s), str(r)),
  ),
  regexReplaceAllLiteral: fn([S, S, S], S, ([re, s, r], ctx) =>
    replaceLiteral(ctx, mustCompile, str(re), str(s), str(r)),
  ),
  mustRegexReplaceAllLiteral: fn([S, S, S], S, ([re, s, r], ctx) =>
    replaceLiteral(ctx, compile, str(re), str(s), str(r)),
  ),
  regexSplit: fn([S, S, 'int'], LIST, ([re, s, n], ctx) =>
    split(ctx, mustCompile(ctx, str(re)), str(s), int(n)),
  ),
  mustRegexSplit: fn([S, S, 'int'], LIST, ([re, s, n], ctx) =>
    split(ctx, compile(ctx, str(re)), str(s), int(n)),
  ),
  regexQuoteMeta: fn([S], S, ([s]) =>
    s === undefined ? '' : str(s).replace(/[\\.+*?()|[\]{}^$]/g, '\\$&'),
  ),
}
