// The one HTTP transport of every Azure read (Entra, ARM, Resource Graph, IMDS, AIA): bounded in
// time and size, never redirected, proxied as Go's clients are, and with connections kept alive in
// one pool per trust set so a custom CA costs one TLS context, not one per request.
import { createHash } from 'node:crypto'
import {
  Agent as HttpAgent,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
} from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import {
  connect as tlsConnect,
  createSecureContext,
  rootCertificates,
  type SecureContext,
} from 'node:tls'

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
  /** Connections one pool keeps to one host (default 16); more requests queue for a free one. */
  maxSocketsPerHost?: number
  /** Connections one pool keeps to all hosts together (default 64). */
  maxSocketsPerPool?: number
  /** An idle kept-alive connection is closed after this long (default 30 s). */
  idleTimeoutMs?: number
  /** Trust sets whose pools are kept (default 8); the least recently used is let go beyond it. */
  maxTrustSets?: number
}

/** The node:http(s) transport, plus what its owner needs to let its pools go. */
export interface NodeHttp extends HttpFetch {
  /** Closes every pooled connection (tests, benches, a CLI run that is done). */
  close(): void
  /**
   * Builds the TLS context of a trust set ahead of its first request (no connection is made):
   * parsing Node's bundled roots plus a CA file costs ~20 ms of CPU that the first attestation would
   * otherwise pay. An unparsable CA is left for that request to report.
   */
  prepare(extraCa?: readonly string[]): void
}

export const HTTP_MAX_SOCKETS_PER_HOST = 16
export const HTTP_MAX_SOCKETS_PER_POOL = 64
export const HTTP_IDLE_TIMEOUT_MS = 30_000
export const HTTP_MAX_TRUST_SETS = 8

/**
 * The certificates TLS trusts for a request: Node's bundled roots (`system`), or those plus the
 * extra PEM anchors of a `ca_file`, named by a hash of their content — so a changed file is a new
 * trust set, and two files never share a connection verified under the other's anchors.
 */
export function trustSetId(extraCa: readonly string[] | undefined): string {
  if (extraCa === undefined || extraCa.length === 0) return 'system'
  const h = createHash('sha256')
  for (const pem of extraCa) h.update(`${Buffer.byteLength(pem)}:`).update(pem)
  return `ca:${h.digest('hex')}`
}

interface TrustSet {
  /** Built once: parsing the bundled roots plus a CA file costs milliseconds of CPU. */
  context: SecureContext
  /** Kept-alive TLS connections, each verified under `context`, for this trust set only. */
  agent: HttpsAgent
}

/**
 * node:http(s) transport: plain `http:` only when asked for (IMDS, loopback fakes), egress through
 * the environment's proxy as Go's clients do (CONNECT tunnels for https, absolute URIs for http), no
 * redirect following (a 3xx is returned as is, like fetch's `redirect: 'manual'`), an AbortSignal
 * timeout over the whole exchange — proxy handshake and a wait for a pooled connection included —
 * and a body cap. Direct https connections are kept alive in one bounded pool per trust set
 * (`trustSetId`); plain http (IMDS, AIA, loopback) in one more. A request that fails because a
 * kept-alive connection was closed under it (the server's idle timeout raced ours) is sent once
 * more on a new connection: nothing reached the server, and every request this transport sends
 * is a read.
 */
export function createNodeHttp(options: NodeHttpOptions = {}): NodeHttp {
  const choose = options.proxyFor ?? ((target: URL) => proxyFor(target, options.env ?? process.env))
  const pool = {
    keepAlive: true,
    maxSockets: options.maxSocketsPerHost ?? HTTP_MAX_SOCKETS_PER_HOST,
    maxTotalSockets: options.maxSocketsPerPool ?? HTTP_MAX_SOCKETS_PER_POOL,
    maxFreeSockets: options.maxSocketsPerHost ?? HTTP_MAX_SOCKETS_PER_HOST,
    // idle sockets are closed by the agent after this; requests keep their own AbortSignal timeout
    timeout: options.idleTimeoutMs ?? HTTP_IDLE_TIMEOUT_MS,
    // the most recently used connection first, so surplus ones go idle and are closed
    scheduling: 'lifo' as const,
  }
  const maxTrustSets = options.maxTrustSets ?? HTTP_MAX_TRUST_SETS
  const trustSets = new Map<string, TrustSet>()
  let plainAgent: HttpAgent | undefined

  const trustSetFor = (extraCa: readonly string[] | undefined): TrustSet => {
    const id = trustSetId(extraCa)
    let set = trustSets.get(id)
    if (set !== undefined) {
      // least recently used last out: Map iteration order is insertion order
      trustSets.delete(id)
      trustSets.set(id, set)
      return set
    }
    const context = createSecureContext(
      id === 'system' ? {} : { ca: [...rootCertificates, ...(extraCa ?? [])] },
    )
    set = { context, agent: new HttpsAgent({ ...pool, secureContext: context }) }
    trustSets.set(id, set)
    while (trustSets.size > maxTrustSets) {
      // no destroy: requests in flight finish, then the pool's idle connections time out (unref'd)
      const oldest = trustSets.keys().next()
      if (oldest.done === true) break
      trustSets.delete(oldest.value)
    }
    return set
  }

  const fetch = (req: HttpRequest): Promise<HttpResponse> =>
    new Promise<HttpResponse>((settleOk, settleErr) => {
      let url: URL
      try {
        url = new URL(req.url)
      } catch {
        settleErr(new HttpError('bad-url', `invalid URL ${JSON.stringify(req.url)}`))
        return
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        settleErr(
          new HttpError('bad-url', `unsupported URL scheme ${JSON.stringify(url.protocol)}`),
        )
        return
      }
      const timeout = AbortSignal.timeout(req.timeoutMs)
      const signal = req.signal === undefined ? timeout : AbortSignal.any([req.signal, timeout])
      if (signal.aborted) {
        settleErr(abortError(req, timeout))
        return
      }
      // Node fails a request waiting for a pooled connection only once it gets one: the caller is
      // answered at the abort itself (the request is then dropped when a connection frees up)
      const onAbort = (): void => settleErr(abortError(req, timeout))
      signal.addEventListener('abort', onAbort, { once: true })
      const resolve = (res: HttpResponse): void => {
        signal.removeEventListener('abort', onAbort)
        settleOk(res)
      }
      const reject = (err: unknown): void => {
        signal.removeEventListener('abort', onAbort)
        settleErr(err)
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
      const base = { method: req.method ?? 'GET', headers, signal }
      const onResponse = (res: IncomingMessage): void => {
        readBody(res, req, signal, timeout).then(resolve, reject)
      }
      /** Sends on a pooled connection; once more on a new one if a kept-alive one was stale. */
      const sendPooled = (make: () => ClientRequest, retried = false): void => {
        const r = make()
        let answered = false
        r.once('response', () => (answered = true))
        r.on('error', (err: NodeJS.ErrnoException) => {
          if (!retried && !answered && r.reusedSocket && !signal.aborted && isStale(err)) {
            sendPooled(make, true)
            return
          }
          fail(err)
        })
        r.end(req.body)
      }
      const proxy = req.direct === true ? undefined : choose(url)
      if (url.protocol === 'http:') {
        plainAgent ??= new HttpAgent(pool)
        const agent = plainAgent
        sendPooled(() =>
          proxy === undefined
            ? httpRequest(url, { ...base, agent }, onResponse)
            : // plain http through a proxy: the absolute URI goes to the proxy
              httpRequest(
                {
                  ...base,
                  agent,
                  host: proxy.hostname,
                  port: proxy.port || 80,
                  path: url.href,
                  headers: { ...headers, host: url.host, ...proxyAuth(proxy) },
                },
                onResponse,
              ),
        )
        return
      }
      let trust: TrustSet
      try {
        trust = trustSetFor(req.extraCa)
      } catch (err) {
        // an unparsable CA file: no connection is attempted
        fail(err as Error)
        return
      }
      if (proxy === undefined) {
        sendPooled(() => httpsRequest(url, { ...base, agent: trust.agent }, onResponse))
        return
      }
      // https through a proxy: a CONNECT tunnel per request, then TLS to the target inside it under
      // the trust set's context (built once)
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
        const host = url.hostname.replace(/^\[|\]$/g, '')
        const tls = tlsConnect({
          socket,
          // the name the certificate is checked against (not the proxy's); SNI only for names
          host,
          ...(isIP(host) === 0 ? { servername: host } : {}),
          secureContext: trust.context,
        })
        // no agent at all: Node ignores `createConnection` when a request has one (even
        // `agent: false`, which makes a fresh one) and would connect to the target directly
        const r = httpsRequest(url, { ...base, createConnection: () => tls }, onResponse)
        r.on('error', fail)
        r.end(req.body)
      })
      connect.on('error', fail)
      connect.end()
    })

  return Object.assign(fetch, {
    prepare(extraCa?: readonly string[]): void {
      try {
        trustSetFor(extraCa)
      } catch {
        // reported by the first request under this trust set
      }
    },
    close(): void {
      for (const set of trustSets.values()) set.agent.destroy()
      trustSets.clear()
      plainAgent?.destroy()
      plainAgent = undefined
    },
  })
}

/** A kept-alive connection the server had already closed: the request never reached it. */
function isStale(err: NodeJS.ErrnoException): boolean {
  return err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code === 'ECONNABORTED'
}

/** `Proxy-Authorization` from the proxy URL's `user:password@`, as Go sends it. */
function proxyAuth(proxy: URL): Record<string, string> {
  if (proxy.username === '') return {}
  const user = decodeURIComponent(proxy.username)
  const pass = decodeURIComponent(proxy.password)
  return { 'proxy-authorization': `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` }
}

/** The production transport: process.env's proxy settings, read per request; pools per process. */
export const nodeHttp: NodeHttp = createNodeHttp()

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
