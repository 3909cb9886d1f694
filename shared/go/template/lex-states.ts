// The lexer's state functions (Go's lexText, lexInsideAction, ...).

import { KEYWORDS } from './lex-items.js'
import type { Lexer, StateFn } from './lexer.js'
import { quote as goQuote } from '../strconv.js'
import { isDigit, isLetter, isPrint } from '../unicode.js'
import { fromBytes } from '../utf8.js'

export const EOF = -1
const LEFT_DELIM = '{{'
export const RIGHT_DELIM = '}}'
const LEFT_COMMENT = '/*'
const RIGHT_COMMENT = '*/'
const SPACE_CHARS = ' \t\r\n'
export const TRIM_MARKER_LEN = 2

export const isSpace = (r: number): boolean => r === 0x20 || r === 0x09 || r === 0x0d || r === 0x0a
const isAlphaNumeric = (r: number): boolean => r === 0x5f || isLetter(r) || isDigit(r)
const hasLeftTrimMarker = (s: string, at: number): boolean =>
  s.length - at >= 2 && s[at] === '-' && isSpace(s.charCodeAt(at + 1))
export const hasRightTrimMarker = (s: string, at: number): boolean =>
  s.length - at >= 2 && isSpace(s.charCodeAt(at)) && s[at + 1] === '-'
export const countNewlines = (s: string): number => s.split('\n').length - 1

/** Go's `%#U` of a rune: `U+0023 '#'`. */
export function formatRuneU(r: number): string {
  const hex = 'U+' + r.toString(16).toUpperCase().padStart(4, '0')
  return isPrint(r) ? `${hex} '${String.fromCodePoint(r)}'` : hex
}

const rightTrimLength = (s: string): number => s.length - trimRight(s).length
const leftTrimLength = (s: string): number => s.length - trimLeft(s).length
const trimRight = (s: string): string => {
  let e = s.length
  while (e > 0 && SPACE_CHARS.includes(s[e - 1] ?? '')) e--
  return s.slice(0, e)
}
const trimLeft = (s: string): string => {
  let b = 0
  while (b < s.length && SPACE_CHARS.includes(s[b] ?? '')) b++
  return s.slice(b)
}

export function lexText(l: Lexer): StateFn {
  const x = l.input.indexOf(LEFT_DELIM, l.pos)
  if (x >= 0) {
    if (x > l.pos) {
      l.pos = x
      let trimLength = 0
      const delimEnd = l.pos + LEFT_DELIM.length
      if (hasLeftTrimMarker(l.input, delimEnd))
        trimLength = rightTrimLength(l.input.slice(l.start, l.pos))
      l.pos -= trimLength
      l.line += countNewlines(l.input.slice(l.start, l.pos))
      const i = l.thisItem('text')
      l.pos += trimLength
      l.ignore()
      if (i.val.length > 0) return l.emitItem(i)
    }
    return lexLeftDelim
  }
  l.pos = l.input.length
  if (l.pos > l.start) {
    l.line += countNewlines(l.input.slice(l.start, l.pos))
    return l.emit('text')
  }
  return l.emit('eof')
}

function lexLeftDelim(l: Lexer): StateFn {
  l.pos += LEFT_DELIM.length
  const trimSpace = hasLeftTrimMarker(l.input, l.pos)
  const afterMarker = trimSpace ? TRIM_MARKER_LEN : 0
  if (l.input.startsWith(LEFT_COMMENT, l.pos + afterMarker)) {
    l.pos += afterMarker
    l.ignore()
    return lexComment
  }
  const i = l.thisItem('leftDelim')
  l.insideAction = true
  l.pos += afterMarker
  l.ignore()
  l.parenDepth = 0
  return l.emitItem(i)
}

function lexComment(l: Lexer): StateFn {
  l.pos += LEFT_COMMENT.length
  const x = l.input.indexOf(RIGHT_COMMENT, l.pos)
  if (x < 0) return l.errorf('unclosed comment')
  l.pos = x + RIGHT_COMMENT.length
  const [delim, trimSpace] = l.atRightDelim()
  if (!delim) return l.errorf('comment ends before closing delimiter')
  l.line += countNewlines(l.input.slice(l.start, l.pos))
  l.thisItem('comment') // comments are not emitted (Go's default mode)
  if (trimSpace) l.pos += TRIM_MARKER_LEN
  l.pos += RIGHT_DELIM.length
  if (trimSpace) l.pos += leftTrimLength(l.input.slice(l.pos))
  l.ignore()
  return lexText
}

function lexRightDelim(l: Lexer): StateFn {
  const [, trimSpace] = l.atRightDelim()
  if (trimSpace) {
    l.pos += TRIM_MARKER_LEN
    l.ignore()
  }
  l.pos += RIGHT_DELIM.length
  const i = l.thisItem('rightDelim')
  if (trimSpace) {
    l.pos += leftTrimLength(l.input.slice(l.pos))
    l.ignore()
  }
  l.insideAction = false
  return l.emitItem(i)
}

export function lexInsideAction(l: Lexer): StateFn {
  const [delim] = l.atRightDelim()
  if (delim) {
    if (l.parenDepth === 0) return lexRightDelim
    return l.errorf('unclosed left paren')
  }
  const r = l.next()
  if (r === EOF) return l.errorf('unclosed action')
  if (isSpace(r)) {
    l.backup() // put the space back in case we have " -}}"
    return lexSpace
  }
  switch (r) {
    case 0x3d: // '='
      return l.emit('assign')
    case 0x3a: // ':'
      if (l.next() !== 0x3d) return l.errorf('expected :=')
      return l.emit('declare')
    case 0x7c:
      return l.emit('pipe')
    case 0x22:
      return lexQuote
    case 0x60:
      return lexRawQuote
    case 0x24:
      return lexVariable
    case 0x27:
      return lexChar
    case 0x28:
      l.parenDepth++
      return l.emit('leftParen')
    case 0x29:
      l.parenDepth--
      if (l.parenDepth < 0) return l.errorf('unexpected right paren')
      return l.emit('rightParen')
  }
  if (r === 0x2e && l.pos < l.input.length) {
    const c = l.input.charCodeAt(l.pos)
    if (c < 0x30 || c > 0x39) return lexField
  }
  if (r === 0x2e || r === 0x2b || r === 0x2d || (r >= 0x30 && r <= 0x39)) {
    l.backup()
    return lexNumber
  }
  if (isAlphaNumeric(r)) {
    l.backup()
    return lexIdentifier
  }
  if (r <= 0x7f && isPrint(r)) return l.emit('char')
  return l.errorf(`unrecognized character in action: ${formatRuneU(r)}`)
}

function lexSpace(l: Lexer): StateFn {
  let numSpaces = 0
  while (isSpace(l.peek())) {
    l.next()
    numSpaces++
  }
  if (
    hasRightTrimMarker(l.input, l.pos - 1) &&
    l.input.startsWith(RIGHT_DELIM, l.pos - 1 + TRIM_MARKER_LEN)
  ) {
    l.backup() // before the space
    if (numSpaces === 1) return lexRightDelim
  }
  return l.emit('space')
}

function lexIdentifier(l: Lexer): StateFn {
  for (;;) {
    const r = l.next()
    if (isAlphaNumeric(r)) continue
    l.backup()
    const word = l.input.slice(l.start, l.pos)
    if (!l.atTerminator()) return l.errorf(`bad character ${formatRuneU(r)}`)
    const kw = KEYWORDS.get(word)
    if (kw !== undefined && kw !== 'dot') {
      if ((kw === 'break' && !l.options.breakOK) || (kw === 'continue' && !l.options.continueOK)) {
        return l.emit('identifier')
      }
      return l.emit(kw)
    }
    if (word[0] === '.') return l.emit('field')
    if (word === 'true' || word === 'false') return l.emit('bool')
    return l.emit('identifier')
  }
}

function lexField(l: Lexer): StateFn {
  return lexFieldOrVariable(l, 'field')
}

function lexVariable(l: Lexer): StateFn {
  if (l.atTerminator()) return l.emit('variable')
  return lexFieldOrVariable(l, 'variable')
}

function lexFieldOrVariable(l: Lexer, typ: 'field' | 'variable'): StateFn {
  if (l.atTerminator()) return l.emit(typ === 'variable' ? 'variable' : 'dot')
  let r: number
  for (;;) {
    r = l.next()
    if (!isAlphaNumeric(r)) {
      l.backup()
      break
    }
  }
  if (!l.atTerminator()) return l.errorf(`bad character ${formatRuneU(r)}`)
  return l.emit(typ)
}

function lexChar(l: Lexer): StateFn {
  for (;;) {
    let r = l.next()
    if (r === 0x5c) {
      r = l.next()
      if (r !== EOF && r !== 0x0a) continue
    }
    if (r === EOF || r === 0x0a) return l.errorf('unterminated character constant')
    if (r === 0x27) break
  }
  return l.emit('charConstant')
}

function lexNumber(l: Lexer): StateFn {
  if (!scanNumber(l))
    return l.errorf(`bad number syntax: ${goQuote(fromBytes(l.input.slice(l.start, l.pos)))}`)
  const sign = l.peek()
  if (sign === 0x2b || sign === 0x2d) {
    if (!scanNumber(l) || l.input[l.pos - 1] !== 'i') {
      return l.errorf(`bad number syntax: ${goQuote(fromBytes(l.input.slice(l.start, l.pos)))}`)
    }
    return l.emit('complex')
  }
  return l.emit('number')
}

function scanNumber(l: Lexer): boolean {
  l.accept('+-')
  let digits = '0123456789_'
  if (l.accept('0')) {
    if (l.accept('xX')) digits = '0123456789abcdefABCDEF_'
    else if (l.accept('oO')) digits = '01234567_'
    else if (l.accept('bB')) digits = '01_'
  }
  l.acceptRun(digits)
  if (l.accept('.')) l.acceptRun(digits)
  if (digits.length === 11 && l.accept('eE')) {
    l.accept('+-')
    l.acceptRun('0123456789_')
  }
  if (digits.length === 23 && l.accept('pP')) {
    l.accept('+-')
    l.acceptRun('0123456789_')
  }
  l.accept('i')
  if (isAlphaNumeric(l.peek())) {
    l.next()
    return false
  }
  return true
}

function lexQuote(l: Lexer): StateFn {
  for (;;) {
    let r = l.next()
    if (r === 0x5c) {
      r = l.next()
      if (r !== EOF && r !== 0x0a) continue
    }
    if (r === EOF || r === 0x0a) return l.errorf('unterminated quoted string')
    if (r === 0x22) break
  }
  return l.emit('string')
}

function lexRawQuote(l: Lexer): StateFn {
  for (;;) {
    const r = l.next()
    if (r === EOF) return l.errorf('unterminated raw quoted string')
    if (r === 0x60) break
  }
  return l.emit('rawString')
}
