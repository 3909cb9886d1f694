// Sprig's regex functions with Go's regexp semantics: RE2 syntax and leftmost-first matching (re2-vm.ts),
// Go's rules for successive empty matches, `$1`/`${name}` expansion and Split.

import { FuncError, LimitError } from './errors.js'
import { type FuncContext, type FuncMap, checkSize, fn, int, str } from './funcs.js'
import {
  type CompiledRegexp,
  RegexpError,
  type RegexpMatch,
  type Subject,
  compileRe2,
  execRe2,
  toMatch,
  toSubject,
} from './re2-vm.js'
import { canBackquote, quote } from './strconv.js'
import { isDigit, isLetter } from './unicode.js'

/** regexp.Compile. */
function compile(expr: string): CompiledRegexp {
  try {
    return compileRe2(expr)
  } catch (err) {
    if (err instanceof RegexpError)
      throw err.limit ? new LimitError(err.message) : new FuncError(err.message)
    throw err
  }
}

/** regexp.MustCompile: its panic text. */
function mustCompile(expr: string): CompiledRegexp {
  try {
    return compile(expr)
  } catch (err) {
    if (!(err instanceof FuncError)) throw err
    const q = canBackquote(expr) ? '`' + expr + '`' : quote(expr)
    throw new FuncError(
      `regexp: Compile(${q}): ${err instanceof Error ? err.message : String(err)}`,
    )
  }
}

/** Positions below are code point indices into the subject. */
interface Found {
  readonly caps: readonly number[]
  readonly start: number
  readonly end: number
}

function search(
  ctx: FuncContext,
  c: CompiledRegexp,
  subj: Subject,
  from: number,
): Found | undefined {
  const caps = execRe2(c, subj, from, (n) => ctx.charge(n))
  if (caps === undefined) return undefined
  return { caps, start: caps[0] ?? 0, end: caps[1] ?? 0 }
}

function prepare(ctx: FuncContext, s: string): Subject {
  checkSize(ctx, s.length, 'regexp input')
  return toSubject(s)
}

/** Go's allMatches: successive matches; an empty match right after a match is skipped. */
function allMatches(ctx: FuncContext, c: CompiledRegexp, subj: Subject, n: number): RegexpMatch[] {
  const end = subj.cps.length
  const limit = n < 0 ? end + 1 : n
  const out: RegexpMatch[] = []
  let prevMatchEnd = -1
  for (let pos = 0; out.length < limit && pos <= end;) {
    const m = search(ctx, c, subj, pos)
    if (!m) break
    let accept = true
    if (m.end === pos) {
      if (m.start === prevMatchEnd) accept = false
      pos++
    } else pos = m.end
    prevMatchEnd = m.end
    if (accept) out.push(toMatch(m.caps, subj))
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

/** Regexp.ReplaceAllString / ReplaceAllLiteralString. */
function replaceAll(
  ctx: FuncContext,
  c: CompiledRegexp,
  s: string,
  repl: (m: RegexpMatch) => string,
): string {
  const subj = prepare(ctx, s)
  const off = (i: number): number => subj.offsets[i] ?? s.length
  const endPos = subj.cps.length
  let out = ''
  let lastMatchEnd = 0
  let searchPos = 0
  while (searchPos <= endPos) {
    const m = search(ctx, c, subj, searchPos)
    if (!m) break
    out += s.slice(off(lastMatchEnd), off(m.start))
    if (m.end > lastMatchEnd || m.start === 0) out += repl(toMatch(m.caps, subj))
    checkSize(ctx, out.length, 'regexReplaceAll')
    lastMatchEnd = m.end
    const width = searchPos < endPos ? 1 : 0
    if (searchPos + width > m.end) searchPos += width
    else if (searchPos + 1 > m.end) searchPos++
    else searchPos = m.end
  }
  return out + s.slice(off(lastMatchEnd))
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

type Compiler = (expr: string) => CompiledRegexp

const findAll = (ctx: FuncContext, cc: Compiler, re: string, s: string, n: number): string[] =>
  allMatches(ctx, cc(re), prepare(ctx, s), n).map((m) => s.slice(m.start, m.end))

const findOne = (ctx: FuncContext, cc: Compiler, re: string, s: string): string => {
  const m = allMatches(ctx, cc(re), prepare(ctx, s), 1)[0]
  return m ? s.slice(m.start, m.end) : ''
}

const matches = (ctx: FuncContext, re: string, s: string): boolean =>
  search(ctx, compile(re), prepare(ctx, s), 0) !== undefined

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
  regexReplaceAll: fn([S, S, S], S, ([re, s, r], ctx) => {
    const c = mustCompile(str(re))
    return replaceAll(ctx, c, str(s), (m) => expand(c, str(r), str(s), m))
  }),
  mustRegexReplaceAll: fn([S, S, S], S, ([re, s, r], ctx) => {
    const c = compile(str(re))
    return replaceAll(ctx, c, str(s), (m) => expand(c, str(r), str(s), m))
  }),
  regexReplaceAllLiteral: fn([S, S, S], S, ([re, s, r], ctx) =>
    replaceAll(ctx, mustCompile(str(re)), str(s), () => str(r)),
  ),
  mustRegexReplaceAllLiteral: fn([S, S, S], S, ([re, s, r], ctx) =>
    replaceAll(ctx, compile(str(re)), str(s), () => str(r)),
  ),
  regexSplit: fn([S, S, 'int'], LIST, ([re, s, n], ctx) =>
    split(ctx, mustCompile(str(re)), str(s), int(n)),
  ),
  mustRegexSplit: fn([S, S, 'int'], LIST, ([re, s, n], ctx) =>
    split(ctx, compile(str(re)), str(s), int(n)),
  ),
  regexQuoteMeta: fn([S], S, ([s]) =>
    s === undefined ? '' : str(s).replace(/[\\.+*?()|[\]{}^$]/g, '\\$&'),
  ),
}
