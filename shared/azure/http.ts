import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect as tlsConnect, rootCertificates } from 'node:tls'

/** One HTTP exchange, as the Azure fetchers need it: bounded in time and size, never redirected. */
export interface HttpRequest {
  url: string
  method?: 'GET' | 'POST'
  headers?: Readonly<Record<string, string>>
  body?: string
  /** Whole exchange, connect to last body byte. */
  timeoutMs: number
  /** Larger bodies fail with `body-too-large` instead of being buffered. */
  maxBytes: number
  signal?: AbortSignal
  /** Extra PEM trust anchors (added to Node's bundled roots) for emulators and Azure Stack. */
  extraCa?: readonly string[]
  /** Never through a proxy: IMDS is link-local on the VM itself. */
  direct?: boolean
}

export interface HttpResponse {
  status: number
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Readonly<Record<string, string>>
  body: Buffer
}

/** The injectable transport: production uses `nodeHttp`, tests pass a function. */
export type HttpFetch = (req: HttpRequest) => Promise<HttpResponse>

export type HttpErrorCode = 'timeout' | 'aborted' | 'body-too-large' | 'network' | 'bad-url'

/** A transport failure (no HTTP status): the request never produced a complete response. */
export class HttpError extends Error {
  readonly code: HttpErrorCode

  constructor(code: HttpErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'HttpError'
    this.code = code
  }
}

/**
 * The proxy a request goes through, as Go's net/http (httpproxy.FromEnvironment) reads the
 * environment — which is what SPIRE's built-in plugins do: HTTPS_PROXY for https URLs, HTTP_PROXY
 * for http ones (upper or lower case; a bare `host:port` means http://), none for a host NO_PROXY
 * matches (`*`, a host or domain suffix with or without a leading dot, optionally `:port`, or an IP)
 * and never for loopback. IMDS requests say `direct` and never get here.
 */
export function proxyFor(
  target: URL,
  env: Readonly<Record<string, string | undefined>>,
): URL | undefined {
  const get = (name: string): string | undefined =>
    env[name] || env[name.toLowerCase()] || undefined
  const raw = target.protocol === 'https:' ? get('HTTPS_PROXY') : get('HTTP_PROXY')
  if (raw === undefined) return undefined
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (isLoopbackHost(host)) return undefined
  const port = target.port || (target.protocol === 'https:' ? '443' : '80')
  for (const entry of (get('NO_PROXY') ?? '').split(',')) {
    const rule = entry.trim().toLowerCase()
    if (rule === '') continue
    if (rule === '*') return undefined
    const m = /^(.*?)(?::(\d+))?$/.exec(rule.replace(/^\[|\](?=:|$)/g, ''))
    const ruleHost = (m?.[1] ?? rule).replace(/^\*?\./, '.')
    if (m?.[2] !== undefined && m[2] !== port) continue
    if (
      ruleHost.startsWith('.')
        ? host.endsWith(ruleHost) || host === ruleHost.slice(1)
        : host === ruleHost
    )
      return undefined
  }
  try {
    const proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`)
    return proxy.protocol === 'http:' || proxy.protocol === 'https:' ? proxy : undefined
  } catch {
    return undefined
  }
}

export interface NodeHttpOptions {
  /** Where the proxy settings come from (default: process.env, read per request). */
  env?: Readonly<Record<string, string | undefined>>
  /** Replaces the environment rule entirely (tests: proxy even loopback targets). */
  proxyFor?: (target: URL) => URL | undefined
}

/**
 * node:http(s) transport: plain `http:` only when asked for (IMDS, loopback fakes), egress through
 * the environment's proxy as Go's clients do (CONNECT tunnels for https, absolute URIs for http), no
 * redirect following (a 3xx is returned as is, like fetch's `redirect: 'manual'`), an AbortSignal
 * timeout over the whole exchange — proxy handshake included — and a body cap.
 */
export function createNodeHttp(options: NodeHttpOptions = {}): HttpFetch {
  const choose = options.proxyFor ?? ((target: URL) => proxyFor(target, options.env ?? process.env))
  return (req) =>
    new Promise<HttpResponse>((resolve, reject) => {
      let url: URL
      try {
        url = new URL(req.url)
      } catch {
        reject(new HttpError('bad-url', `invalid URL ${JSON.stringify(req.url)}`))
        return
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        reject(new HttpError('bad-url', `unsupported URL scheme ${JSON.stringify(url.protocol)}`))
        return
      }
      const timeout = AbortSignal.timeout(req.timeoutMs)
      const signal = req.signal === undefined ? timeout : AbortSignal.any([req.signal, timeout])
      if (signal.aborted) {
        reject(abortError(req, timeout))
        return
      }
      const fail = (err: Error): void =>
        reject(
          signal.aborted
            ? abortError(req, timeout)
            : err instanceof HttpError
              ? err
              : new HttpError('network', err.message, { cause: err }),
        )
      const headers: Record<string, string> = { ...req.headers }
      if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body))
      const ca =
        req.extraCa !== undefined && req.extraCa.length > 0
          ? { ca: [...rootCertificates, ...req.extraCa] }
          : {}
      const base = { method: req.method ?? 'GET', headers, signal, agent: false as const, ...ca }
      const onResponse = (res: IncomingMessage): void => {
        readBody(res, req, signal, timeout).then(resolve, reject)
      }
      const send = (r: ClientRequest): void => {
        r.on('error', fail)
        r.end(req.body)
      }
      const proxy = req.direct === true ? undefined : choose(url)
      if (proxy === undefined) {
        send((url.protocol === 'https:' ? httpsRequest : httpRequest)(url, base, onResponse))
      } else if (url.protocol === 'http:') {
        // plain http through a proxy: the absolute URI goes to the proxy
        send(
          httpRequest(
            {
              ...base,
              host: proxy.hostname,
              port: proxy.port || 80,
              path: url.href,
              headers: { ...headers, host: url.host, ...proxyAuth(proxy) },
            },
            onResponse,
          ),
        )
      } else {
        // https through a proxy: a CONNECT tunnel, then TLS to the target inside it
        const target = `${url.hostname}:${url.port || 443}`
        const connect = httpRequest({
          host: proxy.hostname,
          port: proxy.port || 80,
          method: 'CONNECT',
          path: target,
          headers: { host: target, ...proxyAuth(proxy) },
          signal,
          agent: false,
        })
        connect.on('connect', (res, socket) => {
          if (res.statusCode !== 200) {
            socket.destroy()
            fail(new HttpError('network', `proxy refused CONNECT ${target}: ${res.statusCode}`))
            return
          }
          const tls = tlsConnect({
            socket,
            servername: url.hostname.replace(/^\[|\]$/g, ''),
            ...ca,
          })
          send(httpsRequest(url, { ...base, createConnection: () => tls }, onResponse))
        })
        connect.on('error', fail)
        connect.end()
      }
    })
}

/** `Proxy-Authorization` from the proxy URL's `user:password@`, as Go sends it. */
function proxyAuth(proxy: URL): Record<string, string> {
  if (proxy.username === '') return {}
  const user = decodeURIComponent(proxy.username)
  const pass = decodeURIComponent(proxy.password)
  return { 'proxy-authorization': `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` }
}

/** The production transport: process.env's proxy settings, read per request. */
export const nodeHttp: HttpFetch = createNodeHttp()

function readBody(
  res: IncomingMessage,
  req: HttpRequest,
  signal: AbortSignal,
  timeout: AbortSignal,
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const declared = Number(res.headers['content-length'])
    if (Number.isFinite(declared) && declared > req.maxBytes) {
      res.destroy()
      reject(tooLarge(req))
      return
    }
    res.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > req.maxBytes) {
        res.destroy()
        reject(tooLarge(req))
        return
      }
      chunks.push(chunk)
    })
    res.on('error', (err) => {
      reject(
        signal.aborted
          ? abortError(req, timeout)
          : new HttpError('network', err.message, { cause: err }),
      )
    })
    res.on('end', () => {
      const headers: Record<string, string> = {}
      for (const [name, value] of Object.entries(res.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value
      }
      resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) })
    })
  })
}

function tooLarge(req: HttpRequest): HttpError {
  return new HttpError('body-too-large', `response body exceeds ${req.maxBytes} bytes`)
}

function abortError(req: HttpRequest, timeout: AbortSignal): HttpError {
  return timeout.aborted
    ? new HttpError('timeout', `request timed out after ${req.timeoutMs} ms`)
    : new HttpError('aborted', 'request aborted')
}

/** Go's `tryRead`: the first KiB of a body, as upstream puts it into `unexpected status code` errors. */
export function bodySnippet(body: Buffer, maxBytes = 1024): string {
  return body.subarray(0, maxBytes).toString('utf8')
}

/** Parses a JSON body to `unknown`; throws SyntaxError with JSON.parse's text. */
export function parseJsonBody(body: Buffer): unknown {
  return JSON.parse(body.toString('utf8')) as unknown
}

/** `Retry-After` (delta seconds or HTTP-date) as milliseconds from `now`; undefined when absent or bad. */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  if (value === undefined) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  if (!/[a-z]/i.test(text)) return undefined
  const at = Date.parse(text)
  if (Number.isNaN(at)) return undefined
  return Math.max(0, at - now.getTime())
}

/** Azure's `x-ms-retry-after-ms` / `retry-after-ms` headers, then `Retry-After`. */
export function retryAfterMs(
  headers: Readonly<Record<string, string>>,
  now: Date,
): number | undefined {
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const v = headers[name]
    if (v !== undefined && /^\d+$/.test(v.trim())) return Number(v.trim())
  }
  return parseRetryAfter(headers['retry-after'], now)
}

/** True for loopback hosts, where plain http is acceptable for test doubles. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h)
}
