// Go's fmt number formatting (fmt/format.go) and strconv.FormatFloat for the e, f and g formats.

import { runeCount } from '../utf8.js'

export interface FmtFlags {
  plus: boolean
  minus: boolean
  sharp: boolean
  space: boolean
  zero: boolean
  plusV: boolean
  sharpV: boolean
  wid: number
  prec: number
  widPresent: boolean
  precPresent: boolean
}

export const newFlags = (): FmtFlags => ({
  plus: false,
  minus: false,
  sharp: false,
  space: false,
  zero: false,
  plusV: false,
  sharpV: false,
  wid: 0,
  prec: 0,
  widPresent: false,
  precPresent: false,
})

function padding(f: FmtFlags, n: number): string {
  if (n <= 0) return ''
  return (f.zero && !f.minus ? '0' : ' ').repeat(n)
}

/** fmt.pad: pads `s` to the width, counting runes. */
export function pad(f: FmtFlags, s: string): string {
  if (!f.widPresent || f.wid === 0) return s
  const n = f.wid - runeCount(s)
  return f.minus ? s + padding(f, n) : padding(f, n) + s
}

const padNoZero = (f: FmtFlags, s: string): string => pad({ ...f, zero: false }, s)

/** fmt.fmtInteger. */
export function fmtInteger(
  f: FmtFlags,
  value: bigint,
  base: 2 | 8 | 10 | 16,
  verb: string,
  upper: boolean,
): string {
  const negative = value < 0n
  const u = negative ? -value : value
  let prec = 0
  if (f.precPresent) {
    prec = f.prec
    if (prec === 0 && u === 0n) return padNoZero(f, '')
  } else if (f.zero && !f.minus && f.widPresent) {
    prec = f.wid
    if (negative || f.plus || f.space) prec--
  }
  let digits = u.toString(base)
  if (upper) digits = digits.toUpperCase()
  if (digits.length < prec) digits = '0'.repeat(prec - digits.length) + digits
  if (f.sharp) {
    if (base === 2) digits = '0b' + digits
    else if (base === 8 && digits[0] !== '0') digits = '0' + digits
    else if (base === 16) digits = (upper ? '0X' : '0x') + digits
  }
  if (verb === 'O') digits = '0o' + digits
  if (negative) digits = '-' + digits
  else if (f.plus) digits = '+' + digits
  else if (f.space) digits = ' ' + digits
  return padNoZero(f, digits)
}

/** A decimal: value = 0.digits × 10^dp, no leading or trailing zeros (digits '' for zero). */
interface Decimal {
  digits: string
  dp: number
}

/** The exact decimal expansion of a finite, non-negative double. */
function exactDecimal(v: number): Decimal {
  if (v === 0) return { digits: '', dp: 0 }
  const buf = new DataView(new ArrayBuffer(8))
  buf.setFloat64(0, v)
  const bits = buf.getBigUint64(0)
  const rawExp = Number((bits >> 52n) & 0x7ffn)
  let mant = bits & ((1n << 52n) - 1n)
  let exp: number
  if (rawExp === 0) exp = -1074
  else {
    mant |= 1n << 52n
    exp = rawExp - 1075
  }
  let s: string
  let dp: number
  if (exp >= 0) {
    s = (mant << BigInt(exp)).toString()
    dp = s.length
  } else {
    s = (mant * 5n ** BigInt(-exp)).toString()
    dp = s.length + exp
  }
  return trimDecimal({ digits: s, dp })
}

function trimDecimal(d: Decimal): Decimal {
  let digits = d.digits.replace(/0+$/, '')
  let dp = d.dp
  const lead = digits.length - digits.replace(/^0+/, '').length
  digits = digits.slice(lead)
  dp -= lead
  return digits === '' ? { digits: '', dp: 0 } : { digits, dp }
}

/** Rounds to `nd` digits, half to even (Go's decimal.Round). */
function roundDecimal(d: Decimal, nd: number): Decimal {
  if (nd < 0) return { digits: '', dp: 0 }
  if (nd >= d.digits.length) return d
  const next = d.digits.charCodeAt(nd) - 48
  const rest = d.digits.slice(nd + 1)
  const prevOdd = nd > 0 && (d.digits.charCodeAt(nd - 1) - 48) % 2 === 1
  const up = next > 5 || (next === 5 && (/[1-9]/.test(rest) || prevOdd))
  if (!up) return trimDecimal({ digits: d.digits.slice(0, nd), dp: d.dp })
  let kept = d.digits.slice(0, nd)
  let i = kept.length - 1
  while (i >= 0 && kept[i] === '9') i--
  if (i < 0) return { digits: '1', dp: d.dp + 1 }
  kept = kept.slice(0, i) + String.fromCharCode(kept.charCodeAt(i) + 1)
  return trimDecimal({ digits: kept, dp: d.dp })
}

/** The shortest decimal that reads back as `v` (JS and Go agree on this). */
function shortestDecimal(v: number): Decimal {
  if (v === 0) return { digits: '', dp: 0 }
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(v.toExponential())
  if (!m) return exactDecimal(v)
  return trimDecimal({ digits: (m[1] ?? '') + (m[2] ?? ''), dp: Number(m[3]) + 1 })
}

function fmtE(d: Decimal, prec: number, e: string): string {
  let s = d.digits[0] ?? '0'
  if (prec > 0) s += '.' + d.digits.slice(1, prec + 1).padEnd(prec, '0')
  const exp = d.digits === '' ? 0 : d.dp - 1
  const ae = Math.abs(exp)
  return s + e + (exp < 0 ? '-' : '+') + (ae < 10 ? '0' + ae : String(ae))
}

function fmtF(d: Decimal, prec: number): string {
  let s = d.dp > 0 ? d.digits.slice(0, d.dp).padEnd(d.dp, '0') : '0'
  if (prec > 0) {
    let frac = ''
    for (let i = 0; i < prec; i++) {
      const j = d.dp + i
      frac += j < 0 || j >= d.digits.length ? '0' : d.digits[j]
    }
    s += '.' + frac
  }
  return s
}

/** strconv.FormatFloat(v, fmt, prec, 64) for fmt in e E f g G; prec -1 means shortest. */
export function formatFloat(v: number, fmt: 'e' | 'E' | 'f' | 'g' | 'G', prec: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf'
  const neg = v < 0 || Object.is(v, -0)
  const a = Math.abs(v)
  const shortest = prec < 0
  let d: Decimal
  if (shortest) {
    d = shortestDecimal(a)
    if (fmt === 'e' || fmt === 'E') prec = Math.max(d.digits.length - 1, 0)
    else if (fmt === 'f') prec = Math.max(d.digits.length - d.dp, 0)
    else prec = d.digits.length
  } else {
    const exact = exactDecimal(a)
    if (fmt === 'e' || fmt === 'E') d = roundDecimal(exact, prec + 1)
    else if (fmt === 'f') d = roundDecimal(exact, exact.dp + prec)
    else {
      if (prec === 0) prec = 1
      d = roundDecimal(exact, prec)
    }
  }
  let out: string
  if (fmt === 'e' || fmt === 'E') out = fmtE(d, prec, fmt)
  else if (fmt === 'f') out = fmtF(d, prec)
  else {
    let eprec = prec
    if (eprec > d.digits.length && d.digits.length >= d.dp) eprec = d.digits.length
    if (shortest) eprec = 6
    const exp = d.dp - 1
    if (d.digits !== '' && (exp < -4 || exp >= eprec)) {
      out = fmtE(d, Math.min(prec, d.digits.length) - 1, fmt === 'g' ? 'e' : 'E')
    } else {
      out = fmtF(d, Math.max((prec > d.dp ? d.digits.length : prec) - d.dp, 0))
    }
  }
  return (neg ? '-' : '') + out
}

const MASK64 = (1n << 64n) - 1n

/** strconv.FormatFloat(v, 'b' | 'x' | 'X', prec, 64). */
export function formatFloatBinary(v: number, fmt: 'b' | 'x' | 'X', prec: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf'
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, v)
  const bits = view.getBigUint64(0)
  const neg = bits >> 63n === 1n
  let exp = Number((bits >> 52n) & 0x7ffn)
  let mant = bits & ((1n << 52n) - 1n)
  if (exp === 0) exp++
  else mant |= 1n << 52n
  exp -= 1023
  const sign = neg ? '-' : ''
  if (fmt === 'b') {
    const e = exp - 52
    return `${sign}${mant}p${e >= 0 ? '+' : ''}${e}`
  }
  if (mant === 0n) exp = 0
  mant <<= 8n
  while (mant !== 0n && (mant & (1n << 60n)) === 0n) {
    mant <<= 1n
    exp--
  }
  if (prec >= 0 && prec < 15) {
    const shift = BigInt(prec * 4)
    const extra = (mant << shift) & ((1n << 60n) - 1n)
    mant >>= 60n - shift
    if ((extra | (mant & 1n)) > 1n << 59n) mant++
    mant <<= 60n - shift
    if ((mant & (1n << 61n)) !== 0n) {
      mant >>= 1n
      exp++
    }
  }
  const hex = (d: bigint): string => (fmt === 'X' ? d.toString(16).toUpperCase() : d.toString(16))
  let out = `${sign}0${fmt}${(mant >> 60n) & 1n}`
  mant = (mant << 4n) & MASK64
  if ((prec < 0 && mant !== 0n) || prec > 0) {
    out += '.'
    for (let i = 0; prec < 0 ? mant !== 0n : i < prec; i++) {
      out += hex((mant >> 60n) & 15n)
      mant = (mant << 4n) & MASK64
    }
  }
  const ae = Math.abs(exp)
  return out + (fmt === 'X' ? 'P' : 'p') + (exp < 0 ? '-' : '+') + (ae < 10 ? '0' + ae : String(ae))
}

/** fmt.fmtFloat (without the '#' flag, which templates never need). */
export function fmtFloat(
  f: FmtFlags,
  v: number,
  verb: 'e' | 'E' | 'f' | 'g' | 'G' | 'b' | 'x' | 'X',
  defPrec: number,
): string {
  const prec = f.precPresent ? f.prec : defPrec
  let num =
    verb === 'b' || verb === 'x' || verb === 'X'
      ? formatFloatBinary(v, verb, prec)
      : formatFloat(v, verb, prec)
  if (num[0] !== '-' && num[0] !== '+') num = '+' + num
  if (f.space && num[0] === '+' && !f.plus) num = ' ' + num.slice(1)
  if (num[1] === 'I' || num[1] === 'N') {
    if (num[1] === 'N' && !f.space && !f.plus) num = num.slice(1)
    return padNoZero(f, num)
  }
  if (f.plus || num[0] !== '+') {
    if (f.zero && !f.minus && f.widPresent && f.wid > num.length) {
      return (num[0] ?? '') + '0'.repeat(f.wid - num.length) + num.slice(1)
    }
    return pad(f, num)
  }
  return pad(f, num.slice(1))
}
