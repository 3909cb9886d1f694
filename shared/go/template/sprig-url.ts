// Sprig's urlParse and urlJoin.

import { FuncError } from './errors.js'
import { type FuncMap, fn, map, str } from './funcs.js'
import {
  type GoUrl,
  UrlError,
  emptyUrl,
  hostname,
  parseUrl,
  urlString,
  userString,
} from './go-url.js'
import { fromBytes, toBytes } from '../utf8.js'
import { type GoMap, type GoValue, kindName } from './values.js'

function urlParse(s: string): GoMap {
  let u: GoUrl
  try {
    u = parseUrl(s)
  } catch (err) {
    if (err instanceof UrlError) throw new FuncError(`unable to parse url: ${err.message}`)
    throw err
  }
  const t = fromBytes
  return new Map<string, GoValue>([
    ['scheme', t(u.scheme)],
    ['host', t(u.host)],
    ['hostname', t(hostname(u))],
    ['path', t(u.path)],
    ['query', t(u.rawQuery)],
    ['opaque', t(u.opaque)],
    ['fragment', t(u.fragment)],
    ['userinfo', u.user ? t(userString(u.user)) : ''],
  ])
}

function getOrEmpty(d: GoMap, key: string): string {
  if (!d.has(key)) return ''
  const v = d.get(key) ?? null
  if (v === null)
    throw new FuncError('runtime error: invalid memory address or nil pointer dereference')
  if (typeof v !== 'string') {
    throw new FuncError(
      `unable to parse ${key} key, must be of type string, but ${kindName(v)} found`,
    )
  }
  return toBytes(v)
}

function urlJoin(d: GoMap): string {
  const u = emptyUrl()
  u.scheme = getOrEmpty(d, 'scheme')
  u.host = getOrEmpty(d, 'host')
  u.path = getOrEmpty(d, 'path')
  u.rawQuery = getOrEmpty(d, 'query')
  u.opaque = getOrEmpty(d, 'opaque')
  u.fragment = getOrEmpty(d, 'fragment')
  const userinfo = getOrEmpty(d, 'userinfo')
  if (userinfo !== '') {
    try {
      u.user = parseUrl(fromBytes(`proto://${userinfo}@host`)).user
    } catch (err) {
      if (err instanceof UrlError)
        throw new FuncError(`unable to parse userinfo in dict: ${err.message}`)
      throw err
    }
  }
  return fromBytes(urlString(u))
}

export const SPRIG_URL_FUNCS: FuncMap = {
  urlParse: fn(['string'], 'map[string]interface {}', ([s]) => urlParse(str(s))),
  urlJoin: fn(['map[string]interface {}'], 'string', ([d]) => urlJoin(map(d))),
}
