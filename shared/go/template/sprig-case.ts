// Case conversions Sprig takes from Go's strings.Title, goutils.SwapCase and huandu/xstrings.

import {
  isDigit,
  isLetter,
  isLower,
  isNumber,
  isPunct,
  isSpace,
  isTitle,
  isUpper,
  toLower,
  toTitle,
  toUpper,
} from '../unicode.js'

const cps = (s: string): number[] => [...s].map((ch) => ch.codePointAt(0) ?? 0xfffd)
const str = (rs: readonly number[]): string => rs.map((r) => String.fromCodePoint(r)).join('')

function isSeparator(r: number): boolean {
  if (r <= 0x7f) return !/[0-9a-zA-Z_]/.test(String.fromCharCode(r))
  if (isLetter(r) || isDigit(r)) return false
  return isSpace(r)
}

/** strings.Title. */
export function titleCase(s: string): string {
  let prev = 0x20
  return str(
    cps(s).map((r) => {
      const out = isSeparator(prev) ? toTitle(r) : r
      prev = r
      return out
    }),
  )
}

/** goutils.SwapCase. */
export function swapcase(s: string): string {
  let whitespace = true
  return str(
    cps(s).map((r) => {
      if (isUpper(r) || isTitle(r)) {
        whitespace = false
        return toLower(r)
      }
      if (isLower(r)) {
        if (whitespace) {
          whitespace = false
          return toTitle(r)
        }
        return toUpper(r)
      }
      whitespace = isSpace(r)
      return r
    }),
  )
}

const isConnector = (r: number): boolean => r === 0x2d || r === 0x5f || isSpace(r)

function isAlphabet(r: number): boolean {
  if (!isLetter(r)) return false
  if (r < 0x3400) return true
  if (
    (r >= 0x4e00 && r <= 0x9fcc) ||
    (r >= 0x3400 && r <= 0x4d85) ||
    (r >= 0x20000 && r <= 0x2b81d)
  )
    return false
  return true
}

/** xstrings.ToPascalCase (sprig camelcase). */
export function camelcase(s: string): string {
  const rs = cps(s)
  if (rs.length === 0) return ''
  const out: number[] = []
  let i = 0
  let r0 = 0
  let isFirstRuneUpper = false
  while (i < rs.length) {
    r0 = rs[i++] ?? 0
    if (!isConnector(r0)) {
      isFirstRuneUpper = isUpper(r0)
      r0 = toUpper(r0)
      break
    }
    out.push(r0)
  }
  if (i >= rs.length) {
    out.push(r0)
    return str(out)
  }
  while (i < rs.length) {
    const r1 = r0
    r0 = rs[i++] ?? 0
    if (isConnector(r0) && isConnector(r1)) {
      out.push(r1)
      continue
    }
    if (isConnector(r1)) {
      isFirstRuneUpper = isUpper(r0)
      r0 = toUpper(r0)
    } else {
      if (isFirstRuneUpper) {
        if (isUpper(r0)) r0 = toLower(r0)
        else isFirstRuneUpper = false
      }
      out.push(r1)
    }
  }
  out.push(r0)
  return str(out)
}

type WordType = 'invalid' | 'number' | 'upperCase' | 'alphabet' | 'connector' | 'punct' | 'other'

/** xstrings nextWord over code points: [type, word, remaining]. */
function nextWord(s: readonly number[]): [WordType, number[], number[]] {
  if (s.length === 0) return ['invalid', [], []]
  const r = s[0] ?? 0
  let off = 1
  const runWhile = (pred: (x: number) => boolean): void => {
    while (off < s.length && pred(s[off] ?? 0)) off++
  }
  let wt: WordType
  if (isConnector(r)) {
    wt = 'connector'
    runWhile(isConnector)
  } else if (isPunct(r)) {
    wt = 'punct'
    runWhile(isPunct)
  } else if (isUpper(r)) {
    wt = 'upperCase'
    if (off < s.length) {
      const r2 = s[off] ?? 0
      if (isUpper(r2)) {
        off++
        runWhile(isUpper)
        // "HTTPStatus" splits into "HTTP" and "Status".
        if (off < s.length && isAlphabet(s[off] ?? 0)) off--
      } else if (isAlphabet(r2)) {
        off++
        runWhile((x) => isAlphabet(x) && !isUpper(x))
      }
    }
  } else if (isAlphabet(r)) {
    wt = 'alphabet'
    runWhile((x) => isAlphabet(x) && !isUpper(x))
  } else if (isNumber(r)) {
    wt = 'number'
    runWhile(isNumber)
  } else {
    wt = 'other'
    runWhile((x) => !(isConnector(x) || isAlphabet(x) || isNumber(x) || isPunct(x)))
  }
  return [wt, s.slice(0, off), s.slice(off)]
}

function toLowerWord(
  out: number[],
  wt: WordType,
  word: readonly number[],
  connector: number,
): void {
  if (wt !== 'upperCase' && wt !== 'connector') {
    out.push(...word)
    return
  }
  for (const r of word) out.push(isConnector(r) ? connector : isUpper(r) ? toLower(r) : r)
}

/** xstrings camelCaseToLowerCase (sprig snakecase and kebabcase). */
function camelCaseToLowerCase(s: string, connector: number): string {
  const rs = cps(s)
  if (rs.length === 0) return ''
  const out: number[] = []
  let [wt, word, remaining] = nextWord(rs)
  while (remaining.length > 0) {
    if (wt !== 'connector') toLowerWord(out, wt, word, connector)
    const prev = wt
    const last = word
    ;[wt, word, remaining] = nextWord(remaining)
    if (prev === 'number') {
      while (wt === 'alphabet' || wt === 'number') {
        toLowerWord(out, wt, word, connector)
        ;[wt, word, remaining] = nextWord(remaining)
      }
      if (wt !== 'invalid' && wt !== 'punct' && wt !== 'connector') out.push(connector)
    } else if (prev === 'connector') {
      toLowerWord(out, prev, last, connector)
    } else if (prev !== 'punct') {
      if (wt !== 'number') {
        if (wt !== 'connector' && wt !== 'punct') out.push(connector)
        continue
      }
      if (remaining.length === 0) continue
      const numWord = word
      ;[wt, word, remaining] = nextWord(remaining)
      // A number followed by letters starts a new word ("HTTP2xx" => "http_2xx"); otherwise it stays
      // with the previous one ("Bld4Floor" => "bld4_floor").
      if (wt !== 'alphabet') {
        toLowerWord(out, 'number', numWord, connector)
        if (wt !== 'connector' && wt !== 'punct') out.push(connector)
        continue
      }
      out.push(connector)
      toLowerWord(out, 'number', numWord, connector)
      while (wt === 'alphabet' || wt === 'number') {
        toLowerWord(out, wt, word, connector)
        ;[wt, word, remaining] = nextWord(remaining)
      }
      if (wt !== 'invalid' && wt !== 'connector' && wt !== 'punct') out.push(connector)
    }
  }

  toLowerWord(out, wt, word, connector)
  return str(out)
}

export const snakecase = (s: string): string => camelCaseToLowerCase(s, 0x5f)
export const kebabcase = (s: string): string => camelCaseToLowerCase(s, 0x2d)
