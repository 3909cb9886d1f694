// Sprig's regex functions over Go's regexp semantics: leftmost-first matching (as JavaScript's),
// Go's rules for successive empty matches, `$1`/`${name}` expansion and Split.

import { FuncError } from './errors.js'
import { type FuncContext, type FuncMap, checkSize, fn, int, str } from './funcs.js'
import { type CompiledRegexp, RegexpError, compileRe2, quoteMeta } from './re2.js'
import { canBackquote, quote } from './strconv.js'
import { isDigit, isLetter } from './unicode.js'

/** regexp.Compile. */
function compile(expr: string): CompiledRegexp {
  try {
    return compileRe2(expr)
  } catch (err) {
    if (err instanceof RegexpError) throw new FuncError(err.message)
    throw err
  }
}

/** regexp.MustCompile: its panic text. */
function mustCompile(expr: string): CompiledRegexp {
  try {
    return compile(expr)
  } catch (err) {
    const q = canBackquote(expr) ? '`' + expr + '`' : quote(expr)
    throw new FuncError(`regexp: Compile(${q}): ${err instanceof Error ? err.message : String(err)}`)
  }
}

type Match = RegExpExecArray

function execAt(c: CompiledRegexp, s: string, pos: number): Match | null {
  c.re.lastIndex = pos
  return c.re.exec(s)
}

const runeWidth = (s: string, pos: number): number => ((s.codePointAt(pos) ?? 0) > 0xffff ? 2 : 1)

/** Go's allMatches: successive matches; an empty match right after a match is skipped. */
function allMatches(ctx: FuncContext, c: CompiledRegexp, s: string, n: number): Match[] {
  checkSize(ctx, s.length, 'regexp input')
  const limit = n < 0 ? s.length + 1 : n
  const out: Match[] = []
  let prevMatchEnd = -1
  for (let pos = 0; out.length < limit && pos <= s.length; ) {
    ctx.charge(1)
    const m = execAt(c, s, pos)
    if (!m) break
    const start = m.index
    const end = start + m[0].length
    let accept = true
    if (end === pos) {
      if (start === prevMatchEnd) accept = false
      pos += pos < s.length ? runeWidth(s, pos) : 1
    } else pos = end
    prevMatchEnd = end
    if (accept) out.push(m)
  }
  return out
}

/** Regexp.Expand's template rules for ReplaceAllString. */
function expand(c: CompiledRegexp, template: string, m: Match): string {
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
    if (idx >= 0) out += m[idx] ?? ''
  }
  return out + t
}

/** Regexp.ReplaceAllString / ReplaceAllLiteralString. */
function replaceAll(ctx: FuncContext, c: CompiledRegexp, s: string, repl: (m: Match) => string): string {
  checkSize(ctx, s.length, 'regexp input')
  let out = ''
  let lastMatchEnd = 0
  let searchPos = 0
  while (searchPos <= s.length) {
    ctx.charge(1)
    const m = execAt(c, s, searchPos)
    if (!m) break
    const start = m.index
    const end = start + m[0].length
    out += s.slice(lastMatchEnd, start)
    if (end > lastMatchEnd || start === 0) out += repl(m)
    checkSize(ctx, out.length, 'regexReplaceAll')
    lastMatchEnd = end
    const width = searchPos < s.length ? runeWidth(s, searchPos) : 0
    if (searchPos + width > end) searchPos += width
    else if (searchPos + 1 > end) searchPos++
    else searchPos = end
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
  for (const m of allMatches(ctx, c, s, n)) {
    if (n > 0 && parts.length === n - 1) break
    end = m.index
    if (m.index + m[0].length !== 0) parts.push(s.slice(beg, end))
    beg = m.index + m[0].length
  }
  if (end !== s.length) parts.push(s.slice(beg))
  return parts
}

const S = 'string'
const LIST = '[]string'

type Compiler = (expr: string) => CompiledRegexp

const findAll = (ctx: FuncContext, cc: Compiler, re: string, s: string, n: number): string[] =>
  allMatches(ctx, cc(re), s, n).map((m) => m[0])

const findOne = (ctx: FuncContext, cc: Compiler, re: string, s: string): string => allMatches(ctx, cc(re), s, 1)[0]?.[0] ?? ''

export const SPRIG_REGEX_FUNCS: FuncMap = {
  regexMatch: fn([S, S], 'bool', ([re, s], ctx) => {
    try {
      return allMatches(ctx, compile(str(re)), str(s), 1).length > 0
    } catch (err) {
      if (err instanceof FuncError) return false
      throw err
    }
  }),
  mustRegexMatch: fn([S, S], 'bool', ([re, s], ctx) => allMatches(ctx, compile(str(re)), str(s), 1).length > 0),
  regexFindAll: fn([S, S, 'int'], LIST, ([re, s, n], ctx) => findAll(ctx, mustCompile, str(re), str(s), int(n))),
  mustRegexFindAll: fn([S, S, 'int'], LIST, ([re, s, n], ctx) => findAll(ctx, compile, str(re), str(s), int(n))),
  regexFind: fn([S, S], S, ([re, s], ctx) => findOne(ctx, mustCompile, str(re), str(s))),
  mustRegexFind: fn([S, S], S, ([re, s], ctx) => findOne(ctx, compile, str(re), str(s))),
  regexReplaceAll: fn([S, S, S], S, ([re, s, r], ctx) => {
    const c = mustCompile(str(re))
    return replaceAll(ctx, c, str(s), (m) => expand(c, str(r), m))
  }),
  mustRegexReplaceAll: fn([S, S, S], S, ([re, s, r], ctx) => {
    const c = compile(str(re))
    return replaceAll(ctx, c, str(s), (m) => expand(c, str(r), m))
  }),
  regexReplaceAllLiteral: fn([S, S, S], S, ([re, s, r], ctx) => replaceAll(ctx, mustCompile(str(re)), str(s), () => str(r))),
  mustRegexReplaceAllLiteral: fn([S, S, S], S, ([re, s, r], ctx) => replaceAll(ctx, compile(str(re)), str(s), () => str(r))),
  regexSplit: fn([S, S, 'int'], LIST, ([re, s, n], ctx) => split(ctx, mustCompile(str(re)), str(s), int(n))),
  mustRegexSplit: fn([S, S, 'int'], LIST, ([re, s, n], ctx) => split(ctx, compile(str(re)), str(s), int(n))),
  regexQuoteMeta: fn([S], S, ([s]) => quoteMeta(str(s))),
}
