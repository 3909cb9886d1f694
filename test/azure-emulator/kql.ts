/**
 * The slice of KQL the emulator's Resource Graph understands: `where` with and/or/not-parenthesised
 * comparisons (==, =~, !=, !~, in, in~, !in, contains, has, startswith, endswith), the functions
 * tolower/toupper/tostring/isempty/isnotempty/isnull/isnotnull, and paths like
 * `properties.vmId` or `tags['env']`. Anything else throws KqlError (ARG answers 400).
 */
export class KqlError extends Error {}

type Token =
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'id'; v: string }
  | { t: 'op'; v: string }

export type Expr =
  | { k: 'lit'; v: unknown }
  | { k: 'path'; p: string[] }
  | { k: 'call'; f: string; args: Expr[] }
  | { k: 'list'; items: Expr[] }
  | { k: 'bin'; op: string; l: Expr; r: Expr }

const OPS = [
  '==',
  '=~',
  '!=',
  '!~',
  '!in~',
  '!in',
  'in~',
  '(',
  ')',
  ',',
  '[',
  ']',
  '=',
  '.',
  '<=',
  '>=',
  '<',
  '>',
]
const WORD_OPS = new Set(['and', 'or', 'in', 'contains', 'has', 'startswith', 'endswith', 'not'])

export function tokenize(src: string): Token[] {
  const out: Token[] = []
  let i = 0
  while (i < src.length) {
    const c = src[i]!
    if (/\s/.test(c)) {
      i++
    } else if (c === "'" || c === '"') {
      const end = src.indexOf(c, i + 1)
      if (end < 0) throw new KqlError('unterminated string literal')
      out.push({ t: 'str', v: src.slice(i + 1, end) })
      i = end + 1
    } else if (c === '@' && (src[i + 1] === '"' || src[i + 1] === "'")) {
      i++
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?/.exec(src.slice(i))!
      out.push({ t: 'num', v: Number(m[0]) })
      i += m[0].length
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_-]*(~)?/.exec(src.slice(i))!
      let word = m[0]
      if (word.endsWith('-') && !/^mv-/.test(word)) word = word.replace(/-+$/, '')
      out.push(
        WORD_OPS.has(word.replace('~', '').toLowerCase())
          ? { t: 'op', v: word.toLowerCase() }
          : { t: 'id', v: word },
      )
      i += word.length
    } else {
      const op = OPS.find((o) => src.startsWith(o, i))
      if (!op) throw new KqlError(`unexpected character ${JSON.stringify(c)}`)
      out.push({ t: 'op', v: op })
      i += op.length
    }
  }
  return out
}

export function parseExpr(src: string): Expr {
  const toks = tokenize(src)
  let pos = 0
  const peek = () => toks[pos]
  const isOp = (v: string) => peek()?.t === 'op' && peek()!.v === v
  const expect = (v: string) => {
    if (!isOp(v)) throw new KqlError(`expected ${v}`)
    pos++
  }
  const primary = (): Expr => {
    const tok = toks[pos++]
    if (!tok) throw new KqlError('unexpected end of expression')
    if (tok.t === 'str' || tok.t === 'num') return { k: 'lit', v: tok.v }
    if (tok.t === 'op' && tok.v === '(') {
      const items = [or()]
      while (isOp(',')) (pos++, items.push(or()))
      expect(')')
      return items.length === 1 ? items[0]! : { k: 'list', items }
    }
    if (tok.t === 'op' && tok.v === 'not') return { k: 'call', f: 'not', args: [primary()] }
    if (tok.t !== 'id') throw new KqlError(`unexpected ${tok.v}`)
    if (isOp('(')) {
      pos++
      const args: Expr[] = []
      while (!isOp(')')) {
        args.push(or())
        if (isOp(',')) pos++
      }
      pos++
      return { k: 'call', f: tok.v.toLowerCase(), args }
    }
    if (tok.v === 'true' || tok.v === 'false') return { k: 'lit', v: tok.v === 'true' }
    const p = [tok.v]
    for (;;) {
      if (isOp('.') && toks[pos + 1]?.t === 'id') {
        p.push((toks[pos + 1] as { v: string }).v)
        pos += 2
      } else if (isOp('[') && toks[pos + 1]?.t === 'str') {
        p.push(String(toks[pos + 1]!.v))
        pos += 2
        expect(']')
      } else break
    }
    return { k: 'path', p }
  }
  const cmp = (): Expr => {
    const l = primary()
    const tok = peek()
    if (tok?.t !== 'op' || ['and', 'or', ')', ','].includes(tok.v)) return l
    pos++
    return { k: 'bin', op: tok.v, l, r: primary() }
  }
  const and = (): Expr => {
    let l = cmp()
    while (isOp('and')) (pos++, (l = { k: 'bin', op: 'and', l, r: cmp() }))
    return l
  }
  const or = (): Expr => {
    let l = and()
    while (isOp('or')) (pos++, (l = { k: 'bin', op: 'or', l, r: and() }))
    return l
  }
  const e = or()
  if (pos !== toks.length) throw new KqlError(`unexpected ${String(toks[pos]!.v)}`)
  return e
}

export function evaluate(e: Expr, row: Record<string, unknown>): unknown {
  switch (e.k) {
    case 'lit':
      return e.v
    case 'list':
      return e.items.map((x) => evaluate(x, row))
    case 'path': {
      let cur: unknown = row
      for (const s of e.p)
        cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[s] : undefined
      return cur
    }
    case 'call':
      return call(
        e.f,
        e.args.map((a) => evaluate(a, row)),
      )
    case 'bin':
      return binary(e.op, evaluate(e.l, row), () => evaluate(e.r, row))
  }
}

function str(v: unknown): string {
  return v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)
}

function call(f: string, args: unknown[]): unknown {
  const [a] = args
  switch (f) {
    case 'tolower':
      return str(a).toLowerCase()
    case 'toupper':
      return str(a).toUpperCase()
    case 'tostring':
      return str(a)
    case 'isempty':
      return str(a) === ''
    case 'isnotempty':
      return str(a) !== ''
    case 'isnull':
      return a === undefined || a === null
    case 'isnotnull':
      return a !== undefined && a !== null
    case 'not':
      return !a
    default:
      throw new KqlError(`unsupported function ${f}()`)
  }
}

function binary(op: string, l: unknown, r: () => unknown): unknown {
  if (op === 'and') return Boolean(l) && Boolean(r())
  if (op === 'or') return Boolean(l) || Boolean(r())
  const rv = r()
  const ci = (x: unknown) => str(x).toLowerCase()
  const list = (x: unknown) => (Array.isArray(x) ? x : [x])
  switch (op) {
    case '==':
      return str(l) === str(rv)
    case '!=':
      return str(l) !== str(rv)
    case '=~':
      return ci(l) === ci(rv)
    case '!~':
      return ci(l) !== ci(rv)
    case 'in':
      return list(rv).some((x) => str(x) === str(l))
    case 'in~':
      return list(rv).some((x) => ci(x) === ci(l))
    case '!in':
      return !list(rv).some((x) => str(x) === str(l))
    case '!in~':
      return !list(rv).some((x) => ci(x) === ci(l))
    case 'contains':
    case 'has':
      return ci(l).includes(ci(rv))
    case 'startswith':
      return ci(l).startsWith(ci(rv))
    case 'endswith':
      return ci(l).endsWith(ci(rv))
    default:
      throw new KqlError(`unsupported operator ${op}`)
  }
}

/** Splits a query into `|` stages, ignoring pipes inside quotes. */
export function splitPipeline(query: string): string[] {
  const out: string[] = []
  let cur = ''
  let quote: string | undefined
  for (const c of query) {
    if (quote) {
      if (c === quote) quote = undefined
    } else if (c === "'" || c === '"') quote = c
    else if (c === '|') {
      out.push(cur.trim())
      cur = ''
      continue
    }
    cur += c
  }
  out.push(cur.trim())
  return out.filter((s) => s.length > 0)
}
