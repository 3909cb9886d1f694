import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { rootCertificates } from 'node:tls'

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
 * node:http(s) transport: plain `http:` only when asked for (IMDS, loopback fakes), no proxy, no
 * redirect following (a 3xx is returned as is, like fetch's `redirect: 'manual'`), an AbortSignal
 * timeout over the whole exchange and a body cap.
 */
export const nodeHttp: HttpFetch = (req) =>
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
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest
    const headers: Record<string, string> = { ...req.headers }
    if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body))
    const clientRequest = send(
      url,
      {
        method: req.method ?? 'GET',
        headers,
        signal,
        agent: false,
        ...(req.extraCa !== undefined && req.extraCa.length > 0
          ? { ca: [...rootCertificates, ...req.extraCa] }
          : {}),
      },
      (res) => readBody(res, req, signal, timeout).then(resolve, reject),
    )
    clientRequest.on('error', (err) => {
      reject(
        signal.aborted
          ? abortError(req, timeout)
          : new HttpError('network', err.message, { cause: err }),
      )
    })
    clientRequest.end(req.body)
  })

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
