// The one rule that says whether a failed Azure read (ARM, Resource Graph, Entra discovery and keys,
// tenant lookup) is worth trying again. Transient failures are refused `Unavailable` (SPIRE's agent
// retries; an operator reads "try again"), permanent ones `Internal`.
// deviation: upstream SPIRE refuses both `Internal`; the messages and reasons stay upstream's.
import type { StatusName } from '../plugin/index.js'
import { HttpError } from './http.js'

/** Node, undici and Azure SDK codes of a request that got no answer: refused, reset, timed out, no DNS. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ERR_HTTP2_STREAM_CANCEL',
  // @azure/core-rest-pipeline: the request could not be sent (no errno code)
  'REQUEST_SEND_ERROR',
])

/** How deep a chain of `cause`s is followed (wrappers of wrappers; never a cycle). */
const MAX_CAUSE_DEPTH = 8

/** 408, 429 and 5xx: the server (or a gateway) said "not now", not "no". */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599)
}

/**
 * Whether `err` is a transient Azure failure: an HTTP 408/429/5xx answer (ARM, Entra, Resource
 * Graph, or our own gate's "throttled by ARM" while a Retry-After runs), or no answer at all — a
 * timeout (ours or the socket's), an abort by our deadline, a refused or reset connection, a DNS
 * failure. The first error in the `cause` chain that carries an HTTP status decides; otherwise the
 * first that carries a transport code or an abort/timeout name. Anything else is permanent: other
 * 4xx (403, 404, a credential's 401), malformed or oversized responses, a bad URL, an unreadable
 * CA file, unknown errors (fail closed: the choice is only between two refusals).
 */
export function isTransient(err: unknown): boolean {
  let e: unknown = err
  for (let depth = 0; depth < MAX_CAUSE_DEPTH; depth++) {
    if (typeof e !== 'object' || e === null) return false
    if (e instanceof HttpError) {
      return e.code === 'timeout' || e.code === 'aborted' || e.code === 'network'
    }
    const r = e as Record<string, unknown>
    const status = typeof r['status'] === 'number' ? r['status'] : r['statusCode']
    if (typeof status === 'number' && Number.isInteger(status) && status > 0) {
      return isTransientStatus(status)
    }
    if (typeof r['code'] === 'string' && TRANSIENT_CODES.has(r['code'])) return true
    if (r['name'] === 'AbortError' || r['name'] === 'TimeoutError') return true
    if (!('cause' in r) || r['cause'] === e) return false
    e = r['cause']
  }
  return false
}

/** The gRPC status a refused attestation carries for a failed Azure read. */
export function azureFailureStatus(err: unknown): Extract<StatusName, 'Unavailable' | 'Internal'> {
  return isTransient(err) ? 'Unavailable' : 'Internal'
}
