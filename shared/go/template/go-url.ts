// The parts of Go's net/url that Sprig's urlParse and urlJoin use: Parse, URL.String, escape, unescape.
// Works on byte strings (see utf8.ts) like Go.

import { isIPv6 } from 'node:net'
import { quote } from '../strconv.js'
import { fromBytes, toBytes } from '../utf8.js'

type Mode =
  'path' | 'pathSegment' | 'host' | 'zone' | 'userPassword' | 'queryComponent' | 'fragment'

export class UrlError extends Error {}

export interface GoUrl {
  scheme: string
  opaque: string
  user: { username: string; password: string; passwordSet: boolean } | undefined
  host: string
  path: string
  rawPath: string
  omitHost: boolean
  forceQuery: boolean
  rawQuery: string
  fragment: string
  rawFragment: string
}

export const emptyUrl = (): GoUrl => ({
  scheme: '',
  opaque: '',
  user: undefined,
  host: '',
  path: '',
  rawPath: '',
  omitHost: false,
  forceQuery: false,
  rawQuery: '',
  fragment: '',
  rawFragment: '',
})

function shouldEscape(c: string, mode: Mode): boolean {
  if (/[a-zA-Z0-9]/.test(c)) return false
  if ((mode === 'host' || mode === 'zone') && `!$&'()*+,;=:[]<>"`.includes(c)) return false
  if ('-_.~'.includes(c)) return false
  if ('$&+,/:;=?@'.includes(c)) {
    switch (mode) {
      case 'path':
        return c === '?'
      case 'pathSegment':
        return '/;,?'.includes(c)
      case 'userPassword':
        return '@/?:'.includes(c)
      case 'queryComponent':
        return true
      case 'fragment':
        return false
    }
  }
  if (mode === 'fragment' && '!()*'.includes(c)) return false
  return true
}

const isHex = (c: string | undefined): boolean => c !== undefined && /^[0-9a-fA-F]$/.test(c)

/** url.unescape on a byte string. */
export function unescape(s: string, mode: Mode): string {
  for (let i = 0; i < s.length;) {
    const c = s[i] ?? ''
    if (c === '%') {
      if (i + 2 >= s.length || !isHex(s[i + 1]) || !isHex(s[i + 2])) {
        throw new UrlError(`invalid URL escape ${quote(fromBytes(s.slice(i, i + 3)))}`)
      }
      const v = parseInt(s.slice(i + 1, i + 3), 16)
      if (mode === 'host' && v < 0x80 && s.slice(i, i + 3) !== '%25') {
        throw new UrlError(`invalid URL escape ${quote(s.slice(i, i + 3))}`)
      }
      if (
        mode === 'zone' &&
        s.slice(i, i + 3) !== '%25' &&
        v !== 0x20 &&
        v < 0x80 &&
        shouldEscape(String.fromCharCode(v), 'host')
      ) {
        throw new UrlError(`invalid URL escape ${quote(s.slice(i, i + 3))}`)
      }
      i += 3
    } else {
      if ((mode === 'host' || mode === 'zone') && c < '\x80' && shouldEscape(c, mode)) {
        throw new UrlError(`invalid character ${quote(c)} in host name`)
      }
      i++
    }
  }
  return s.replace(/%([0-9a-fA-F]{2})|\+/g, (_m, hex: string | undefined) =>
    hex !== undefined
      ? String.fromCharCode(parseInt(hex, 16))
      : mode === 'queryComponent'
        ? ' '
        : '+',
  )
}

/** url.escape on a byte string. */
export function escape(s: string, mode: Mode): string {
  let out = ''
  for (const c of s) {
    if (c === ' ' && mode === 'queryComponent') out += '+'
    else if (shouldEscape(c, mode))
      out += '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')
    else out += c
  }
  return out
}

const validOptionalPort = (p: string): boolean => p === '' || /^:[0-9]*$/.test(p)

function parseHost(scheme: string, host: string): string {
  const open = host.lastIndexOf('[')
  if (open > 0) throw new UrlError('invalid IP-literal')
  if (open === 0) {
    const close = host.lastIndexOf(']')
    if (close < 0) throw new UrlError("missing ']' in host")
    const colonPort = host.slice(close + 1)
    if (!validOptionalPort(colonPort))
      throw new UrlError(`invalid port ${quote(colonPort)} after host`)
    const hostname = host.slice(1, close)
    const zone = hostname.indexOf('%25')
    const addr =
      zone >= 0
        ? unescape(hostname.slice(0, zone), 'host') + unescape(hostname.slice(zone), 'zone')
        : unescape(hostname, 'host')
    if (!isIPv6(addr.split('%')[0] ?? ''))
      throw new UrlError(`invalid host: ParseAddr(${quote(addr)}): unable to parse IP`)
    return '[' + addr + ']' + unescape(colonPort, 'host')
  }
  let i = host.indexOf(':')
  if (i >= 0) {
    const last = host.lastIndexOf(':')
    if (last !== i && scheme !== 'http' && scheme !== 'https') i = last
    const colonPort = host.slice(i)
    if (!validOptionalPort(colonPort))
      throw new UrlError(`invalid port ${quote(colonPort)} after host`)
  }
  return unescape(host, 'host')
}

function parseAuthority(u: GoUrl, authority: string): void {
  const i = authority.lastIndexOf('@')
  u.host = parseHost(u.scheme, i < 0 ? authority : authority.slice(i + 1))
  if (i < 0) return
  const userinfo = authority.slice(0, i)
  if (!/^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(userinfo))
    throw new UrlError('net/url: invalid userinfo')
  const colon = userinfo.indexOf(':')
  u.user =
    colon < 0
      ? { username: unescape(userinfo, 'userPassword'), password: '', passwordSet: false }
      : {
          username: unescape(userinfo.slice(0, colon), 'userPassword'),
          password: unescape(userinfo.slice(colon + 1), 'userPassword'),
          passwordSet: true,
        }
}

function parseNoFragment(raw: string): GoUrl {
  if (/[\x00-\x1f\x7f]/.test(raw)) throw new UrlError('net/url: invalid control character in URL')
  const u = emptyUrl()
  if (raw === '*') {
    u.path = '*'
    return u
  }
  let rest = raw
  const m = /^([a-zA-Z][a-zA-Z0-9+\-.]*):/.exec(raw)
  if (raw.startsWith(':')) throw new UrlError('missing protocol scheme')
  if (m) {
    u.scheme = (m[1] ?? '').toLowerCase()
    rest = raw.slice(m[0].length)
  }
  if (rest.endsWith('?') && rest.split('?').length === 2) {
    u.forceQuery = true
    rest = rest.slice(0, -1)
  } else {
    const q = rest.indexOf('?')
    if (q >= 0) {
      u.rawQuery = rest.slice(q + 1)
      rest = rest.slice(0, q)
    }
  }
  if (!rest.startsWith('/')) {
    if (u.scheme !== '') {
      u.opaque = rest
      return u
    }
    if ((rest.split('/')[0] ?? '').includes(':'))
      throw new UrlError('first path segment in URL cannot contain colon')
  }
  if ((u.scheme !== '' || !rest.startsWith('///')) && rest.startsWith('//')) {
    let authority = rest.slice(2)
    rest = ''
    const slash = authority.indexOf('/')
    if (slash >= 0) {
      rest = authority.slice(slash)
      authority = authority.slice(0, slash)
    }
    parseAuthority(u, authority)
  } else if (u.scheme !== '' && rest.startsWith('/')) {
    u.omitHost = true
  }
  u.path = unescape(rest, 'path')
  u.rawPath = escape(u.path, 'path') === rest ? '' : rest
  return u
}

/** url.Parse on a Go string; throws UrlError with Go's `parse "<url>": <reason>` text. */
export function parseUrl(s: string): GoUrl {
  const raw = toBytes(s)
  const hash = raw.indexOf('#')
  const base = hash < 0 ? raw : raw.slice(0, hash)
  let u: GoUrl
  try {
    u = parseNoFragment(base)
  } catch (err) {
    throw new UrlError(
      `parse ${quote(fromBytes(base))}: ${err instanceof Error ? err.message : String(err)}`,
    )
  }
  if (hash >= 0 && hash + 1 < raw.length) {
    const frag = raw.slice(hash + 1)
    try {
      u.fragment = unescape(frag, 'fragment')
    } catch (err) {
      throw new UrlError(`parse ${quote(s)}: ${err instanceof Error ? err.message : String(err)}`)
    }
    u.rawFragment = escape(u.fragment, 'fragment') === frag ? '' : frag
  }
  return u
}

function validEncoded(s: string, mode: Mode): boolean {
  for (const c of s) if (!"!$&'()*+,;=:@[]%".includes(c) && shouldEscape(c, mode)) return false
  return true
}

export const userString = (u: NonNullable<GoUrl['user']>): string =>
  escape(u.username, 'userPassword') +
  (u.passwordSet ? ':' + escape(u.password, 'userPassword') : '')

function escapedPath(u: GoUrl): string {
  if (u.rawPath !== '' && validEncoded(u.rawPath, 'path')) {
    try {
      if (unescape(u.rawPath, 'path') === u.path) return u.rawPath
    } catch {
      // fall through to escaping Path
    }
  }
  return u.path === '*' ? '*' : escape(u.path, 'path')
}

function escapedFragment(u: GoUrl): string {
  if (u.rawFragment !== '' && validEncoded(u.rawFragment, 'fragment')) {
    try {
      if (unescape(u.rawFragment, 'fragment') === u.fragment) return u.rawFragment
    } catch {
      // fall through
    }
  }
  return escape(u.fragment, 'fragment')
}

/** URL.String(); all fields are byte strings. */
export function urlString(u: GoUrl): string {
  let buf = ''
  if (u.scheme !== '') buf += u.scheme + ':'
  if (u.opaque !== '') buf += u.opaque
  else {
    if (u.scheme !== '' || u.host !== '' || u.user !== undefined) {
      if (!(u.omitHost && u.host === '' && u.user === undefined)) {
        if (u.host !== '' || u.path !== '' || u.user !== undefined) buf += '//'
        if (u.user !== undefined) buf += userString(u.user) + '@'
        if (u.host !== '') buf += escape(u.host, 'host')
      }
    }
    const path = escapedPath(u)
    if (path !== '' && path[0] !== '/' && u.host !== '') buf += '/'
    if (buf === '' && (path.split('/')[0] ?? '').includes(':')) buf += './'
    buf += path
  }
  if (u.forceQuery || u.rawQuery !== '') buf += '?' + u.rawQuery
  if (u.fragment !== '') buf += '#' + escapedFragment(u)
  return buf
}

/** URL.Hostname(). */
export function hostname(u: GoUrl): string {
  let host = u.host
  const colon = host.lastIndexOf(':')
  if (colon >= 0 && validOptionalPort(host.slice(colon))) host = host.slice(0, colon)
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  return host
}
