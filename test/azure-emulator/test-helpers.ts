import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { IncomingHttpHeaders } from 'node:http'

export interface HttpResult {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  text: string
  json<T = Record<string, unknown>>(): T
}

export interface HttpOptions {
  method?: string
  headers?: Record<string, string>
  body?: string
  /** Trusted CA PEM for https (tests cannot set NODE_EXTRA_CA_CERTS after start-up) */
  ca?: string
  timeoutMs?: number
}

/** A minimal HTTP(S) client for the emulator's own tests: no retries, no redirects. */
export function fetchRaw(url: string, options: HttpOptions = {}): Promise<HttpResult> {
  const u = new URL(url)
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = send(
      u,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        ...(options.ca ? { ca: options.ca } : {}),
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const body = Buffer.concat(chunks)
          const text = body.toString('utf8')
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text,
            json: <T>() => JSON.parse(text) as T,
          })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    if (options.body !== undefined) req.write(options.body)
    req.end()
  })
}

export const IMDS_HEADERS = { Metadata: 'true' }
