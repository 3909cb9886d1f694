// Sprig's hashing, base64/base32 and path functions. Decoding errors are returned as the result text,
// as Sprig does (`illegal base64 data at input byte 4`).

import { createHash } from 'node:crypto'
import { type FuncMap, fn, str } from './funcs.js'
import { fromBytes, toBytes } from '../utf8.js'

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

class CorruptInput extends Error {}

/** encoding/base64 StdEncoding.DecodeString (padded, not strict), as a byte string. */
function b64decode(s: string): string {
  const src = toBytes(s)
  let si = 0
  let out = ''
  while (si < src.length) {
    const dbuf = [0, 0, 0, 0]
    let dlen = 4
    let trailing = -1
    for (let j = 0; j < 4; j++) {
      if (si === src.length) {
        if (j === 0) return out
        throw new CorruptInput(String(si - j))
      }
      const c = src[si++] ?? ''
      const d = B64.indexOf(c)
      if (d >= 0) {
        dbuf[j] = d
        continue
      }
      if (c === '\n' || c === '\r') {
        j--
        continue
      }
      if (c !== '=' || j < 2) throw new CorruptInput(String(si - 1))
      if (j === 2) {
        while (si < src.length && (src[si] === '\n' || src[si] === '\r')) si++
        if (si === src.length) throw new CorruptInput(String(src.length))
        if (src[si] !== '=') throw new CorruptInput(String(si - 1))
        si++
      }
      while (si < src.length && (src[si] === '\n' || src[si] === '\r')) si++
      if (si < src.length) trailing = si
      dlen = j
      break
    }
    const v =
      ((dbuf[0] ?? 0) << 18) | ((dbuf[1] ?? 0) << 12) | ((dbuf[2] ?? 0) << 6) | (dbuf[3] ?? 0)
    const bytes = [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff].slice(0, dlen - 1)
    out += String.fromCharCode(...bytes)
    if (trailing >= 0) throw new CorruptInput(String(trailing))
    if (dlen < 4) return out
  }
  return out
}

/** encoding/base32 StdEncoding.DecodeString, as a byte string. */
function b32decode(s: string): string {
  let src = toBytes(s).replace(/[\r\n]/g, '')
  const olen = src.length
  let out = ''
  let end = false
  while (src.length > 0 && !end) {
    const dbuf = [0, 0, 0, 0, 0, 0, 0, 0]
    let dlen = 8
    for (let j = 0; j < 8;) {
      if (src.length === 0) throw new CorruptInput(String(olen - src.length - j))
      const c = src[0] ?? ''
      src = src.slice(1)
      if (c === '=' && j >= 2 && src.length < 8) {
        if (src.length + j < 7) throw new CorruptInput(String(olen))
        for (let k = 0; k < 7 - j; k++) {
          if (src.length > k && src[k] !== '=')
            throw new CorruptInput(String(olen - src.length + k - 1))
        }
        dlen = j
        end = true
        if (dlen === 1 || dlen === 3 || dlen === 6)
          throw new CorruptInput(String(olen - src.length - 1))
        break
      }
      const d = B32.indexOf(c)
      if (d < 0) throw new CorruptInput(String(olen - src.length - 1))
      dbuf[j] = d
      j++
    }
    const b = (i: number): number => dbuf[i] ?? 0
    const q = [
      ((b(0) << 3) | (b(1) >> 2)) & 0xff,
      ((b(1) << 6) | (b(2) << 1) | (b(3) >> 4)) & 0xff,
      ((b(3) << 4) | (b(4) >> 1)) & 0xff,
      ((b(4) << 7) | (b(5) << 2) | (b(6) >> 3)) & 0xff,
      ((b(6) << 5) | b(7)) & 0xff,
    ]
    const n = { 8: 5, 7: 4, 5: 3, 4: 2, 2: 1 }[dlen] ?? 0
    out += String.fromCharCode(...q.slice(0, n))
  }
  return out
}

function b32encode(s: string): string {
  const b = Buffer.from(s, 'utf8')
  let out = ''
  for (let i = 0; i < b.length; i += 5) {
    const chunk = b.subarray(i, i + 5)
    let bits = 0n
    for (let k = 0; k < 5; k++) bits = (bits << 8n) | BigInt(chunk[k] ?? 0)
    const nchars = [0, 2, 4, 5, 7, 8][chunk.length] ?? 8
    for (let k = 0; k < 8; k++)
      out += k < nchars ? B32[Number((bits >> BigInt(35 - 5 * k)) & 31n)] : '='
  }
  return out
}

const decoded = (name: 'base64' | 'base32', f: (s: string) => string, s: string): string => {
  try {
    return fromBytes(f(s))
  } catch (err) {
    if (err instanceof CorruptInput) return `illegal ${name} data at input byte ${err.message}`
    throw err
  }
}

function adler32(s: string): number {
  let a = 1
  let b = 0
  for (const byte of Buffer.from(s, 'utf8')) {
    a = (a + byte) % 65521
    b = (b + a) % 65521
  }
  return ((b << 16) | a) >>> 0
}

/** Go's path.Clean. */
export function cleanPath(p: string): string {
  if (p === '') return '.'
  const rooted = p[0] === '/'
  const out: string[] = []
  let dotdot = 0
  for (const el of p.split('/')) {
    if (el === '' || el === '.') continue
    if (el === '..') {
      if (out.length > dotdot) out.pop()
      else if (!rooted) {
        out.push('..')
        dotdot = out.length
      }
      continue
    }
    out.push(el)
  }
  const joined = (rooted ? '/' : '') + out.join('/')
  return joined === '' ? '.' : joined
}

function basePath(p: string): string {
  if (p === '') return '.'
  const t = p.replace(/\/+$/, '')
  if (t === '') return '/'
  return t.slice(t.lastIndexOf('/') + 1)
}

function extPath(p: string): string {
  for (let i = p.length - 1; i >= 0 && p[i] !== '/'; i--) if (p[i] === '.') return p.slice(i)
  return ''
}

const S = 'string'
const hash = (alg: 'sha1' | 'sha256', s: string): string =>
  createHash(alg).update(s, 'utf8').digest('hex')

export const SPRIG_ENCODING_FUNCS: FuncMap = {
  sha1sum: fn([S], S, ([s]) => hash('sha1', str(s))),
  sha256sum: fn([S], S, ([s]) => hash('sha256', str(s))),
  adler32sum: fn([S], S, ([s]) => String(adler32(str(s)))),
  b64enc: fn([S], S, ([s]) => Buffer.from(str(s), 'utf8').toString('base64')),
  b64dec: fn([S], S, ([s]) => decoded('base64', b64decode, str(s))),
  b32enc: fn([S], S, ([s]) => b32encode(str(s))),
  b32dec: fn([S], S, ([s]) => decoded('base32', b32decode, str(s))),
  base: fn([S], S, ([s]) => basePath(str(s))),
  dir: fn([S], S, ([s]) => cleanPath(str(s).slice(0, str(s).lastIndexOf('/') + 1))),
  clean: fn([S], S, ([s]) => cleanPath(str(s))),
  ext: fn([S], S, ([s]) => extPath(str(s))),
  isAbs: fn([S], 'bool', ([s]) => str(s).startsWith('/')),
}
