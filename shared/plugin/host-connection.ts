/**
 * Unary gRPC calls to SPIRE's host services (AgentStore, Metrics) on the broker's unix socket, written
 * on `node:http2` for the reason grpc-server.ts gives: one peer, plaintext h2c, no compression, and
 * grpc-js's client (channel, resolver, load balancer, retrying and subchannel calls, filters) cost a
 * measurable share of the runtime's CPU on every attestation's AgentStore call and most of a plugin's
 * start-up. A call is one HTTP/2 stream: HEADERS, one DATA with the request and END_STREAM, then the
 * answer, its trailers, or a trailers-only HEADERS frame.
 *
 * One connection, opened on the first call and again after SPIRE closed it; a call refused before
 * SPIRE saw it (GOAWAY, REFUSED_STREAM, a connection that was already closing) is retried once on a
 * new connection, as grpc-go's transparent retry does. Every call has a deadline, sent as
 * `grpc-timeout` and enforced here too.
 */
import {
  connect,
  constants as h2,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
} from 'node:http2'
import { connect as netConnect } from 'node:net'
import { coarseTimers } from './coarse-timers.js'
import { StacklessError } from './errors.js'
import { statusName } from './status.js'
import { decodeMessage, encodeFramedMessage } from './wire/codec.js'
import {
  Code,
  decodeGrpcMessage,
  MessageDecoder,
  statusFromHttp,
  statusFromReset,
  type GrpcStatus,
} from './wire/grpc-framing.js'
import { SERVICES, type MethodSpec } from './wire/schema.js'

/** Per-call deadline for host service RPCs; SPIRE answers from its datastore. */
export const HOST_CALL_TIMEOUT_MS = 10_000
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024

/**
 * A host service's answer other than OK: its gRPC code and details, as SPIRE sent them. Stackless:
 * AgentStore answers NotFound for every new agent, an expected outcome at fleet rates.
 */
export class HostCallError extends StacklessError {
  declare readonly code: number
  declare readonly details: string

  constructor(code: number, details: string) {
    super(`${code} ${statusName(code)}: ${details}`)
    this.name = 'HostCallError'
    this.code = code
    this.details = details
  }
}

export type Unary<Req, Res> = (
  method: string,
  request: Req,
  signal: AbortSignal | undefined,
) => Promise<Res>

/** A call's answer: its status, and the response when the status is OK. */
export interface HostAnswer {
  status: GrpcStatus
  response?: unknown
}

export interface HostConnection {
  /** The response; rejects with a HostCallError for any status but OK. */
  call: Unary<object, unknown>
  /** The status and response, without an error for an expected status (AgentStore's NotFound). */
  invoke(method: string, request: object, signal: AbortSignal | undefined): Promise<HostAnswer>
  close(): void
}

/** What a stream ended with, before it is turned into an answer. */
type Outcome =
  | { kind: 'status'; status: GrpcStatus; messages: Buffer[] }
  | { kind: 'refused'; details: string }
  | { kind: 'failed'; status: GrpcStatus }

/** Transport errors that mean the call never reached SPIRE, so one retry cannot repeat it. */
const NOT_SENT_ERRORS = new Set(['ERR_HTTP2_GOAWAY_SESSION', 'ECONNREFUSED', 'ENOENT', 'EAGAIN'])

const isAborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true

const methodCache = new Map<string, MethodSpec | null>()

function methodSpec(path: string): MethodSpec | undefined {
  let spec = methodCache.get(path)
  if (spec === undefined) {
    const slash = path.lastIndexOf('/')
    spec = SERVICES[path.slice(1, slash)]?.[path.slice(slash + 1)] ?? null
    methodCache.set(path, spec)
  }
  return spec ?? undefined
}

/** A client for the host services on the broker's unix socket `address`. */
export function createHostConnection(
  address: string,
  options: { timeoutMs?: number } = {},
): HostConnection {
  const timeoutMs = options.timeoutMs ?? HOST_CALL_TIMEOUT_MS
  let session: ClientHttp2Session | undefined
  let closed = false

  const open = (): ClientHttp2Session => {
    if (session !== undefined && !session.closed && !session.destroyed) return session
    const s = connect('http://localhost', {
      createConnection: () => netConnect(address),
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
    })
    const forget = (): void => {
      if (session === s) session = undefined
    }
    // failures reach the calls on their streams; a closing connection is never reused
    s.on('error', forget)
    s.on('goaway', forget)
    s.on('close', forget)
    // the plugin's life is its server's: a host connection alone must not keep it running
    s.unref()
    session = s
    return s
  }

  /** Stops handing out `s`; its calls in flight finish, then it closes. */
  const retire = (s: ClientHttp2Session | undefined): void => {
    if (s === undefined) return
    if (session === s) session = undefined
    if (!s.closed && !s.destroyed) s.close()
  }

  const attempt = (
    path: string,
    frame: Buffer,
    signal: AbortSignal | undefined,
    deadline: number,
  ): Promise<Outcome> =>
    new Promise((resolve) => {
      let stream: ClientHttp2Stream
      let used: ClientHttp2Session
      try {
        used = open()
        stream = used.request(
          {
            [h2.HTTP2_HEADER_METHOD]: 'POST',
            [h2.HTTP2_HEADER_PATH]: path,
            [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
            [h2.HTTP2_HEADER_TE]: 'trailers',
            'grpc-timeout': `${Math.max(1, Math.ceil(deadline - Date.now()))}m`,
          },
          { endStream: false },
        )
      } catch (err) {
        // the connection was already going away: SPIRE never saw this call
        session = undefined
        resolve({ kind: 'refused', details: err instanceof Error ? err.message : String(err) })
        return
      }
      const decoder = new MessageDecoder(MAX_MESSAGE_BYTES)
      const messages: Buffer[] = []
      let status: GrpcStatus | undefined
      let failure: GrpcStatus | undefined
      let answered = false
      let transportError: { code: string; message: string } | undefined
      const onHeaders = (headers: IncomingHttpHeaders): void => {
        if (headers['grpc-status'] !== undefined) {
          status = {
            code: Number(headers['grpc-status']),
            details: decodeGrpcMessage(headers['grpc-message']),
          }
        }
      }
      const stop = (s: GrpcStatus): void => {
        failure ??= s
        if (!stream.destroyed) stream.close(h2.NGHTTP2_CANCEL)
      }
      const cancelDeadline = coarseTimers.after(Math.max(0, deadline - Date.now()), () =>
        stop({ code: Code.DEADLINE_EXCEEDED, details: 'deadline exceeded' }),
      )
      const onAbort = (): void => stop({ code: Code.CANCELLED, details: 'cancelled on client' })
      signal?.addEventListener('abort', onAbort, { once: true })
      stream.on('response', (headers) => {
        answered = true
        const http = Number(headers[h2.HTTP2_HEADER_STATUS])
        if (http !== 200) {
          stop(statusFromHttp(http))
          return
        }
        const contentType = headers[h2.HTTP2_HEADER_CONTENT_TYPE]
        if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
          stop({ code: Code.UNKNOWN, details: `unexpected content-type ${String(contentType)}` })
          return
        }
        onHeaders(headers)
      })
      stream.on('trailers', onHeaders)
      stream.on('data', (chunk: Buffer) => {
        try {
          decoder.push(chunk, messages)
        } catch (err) {
          stop({ code: Code.INTERNAL, details: err instanceof Error ? err.message : String(err) })
        }
      })
      stream.on('error', (err: NodeJS.ErrnoException) => {
        transportError = { code: err.code ?? '', message: err.message }
      })
      stream.on('close', () => {
        cancelDeadline()
        signal?.removeEventListener('abort', onAbort)
        if (failure !== undefined) resolve({ kind: 'failed', status: failure })
        else if (status !== undefined) resolve({ kind: 'status', status, messages })
        else if (!answered && stream.rstCode === h2.NGHTTP2_REFUSED_STREAM) {
          // the retry goes to a new connection: this one may be going away (a GOAWAY on its way)
          retire(used)
          resolve({ kind: 'refused', details: 'stream refused' })
        } else if (!answered && transportError !== undefined) {
          resolve(
            NOT_SENT_ERRORS.has(transportError.code)
              ? { kind: 'refused', details: transportError.message }
              : {
                  kind: 'failed',
                  status: { code: Code.UNAVAILABLE, details: transportError.message },
                },
          )
        } else if (stream.rstCode !== undefined && stream.rstCode !== h2.NGHTTP2_NO_ERROR) {
          resolve({ kind: 'failed', status: statusFromReset(stream.rstCode) })
        } else {
          resolve({
            kind: 'failed',
            status: { code: Code.INTERNAL, details: 'stream ended without a status' },
          })
        }
      })
      stream.end(frame)
    })

  const invoke = async (
    method: string,
    request: object,
    signal: AbortSignal | undefined,
  ): Promise<HostAnswer> => {
    if (closed) return { status: { code: Code.UNAVAILABLE, details: 'host connection closed' } }
    const path = `/${method}`
    const spec = methodSpec(path)
    if (spec === undefined) throw new Error(`unknown host method ${method}`)
    const frame = encodeFramedMessage(spec.request, request)
    if (isAborted(signal))
      return { status: { code: Code.CANCELLED, details: 'cancelled on client' } }
    const deadline = Date.now() + timeoutMs
    let outcome = await attempt(path, frame, signal, deadline)
    if (outcome.kind === 'refused' && !closed && !isAborted(signal) && Date.now() < deadline) {
      outcome = await attempt(path, frame, signal, deadline)
    }
    if (outcome.kind === 'refused') {
      return { status: { code: Code.UNAVAILABLE, details: outcome.details } }
    }
    if (outcome.kind === 'failed') return { status: outcome.status }
    const { status, messages } = outcome
    if (status.code !== Code.OK) return { status }
    if (messages.length !== 1) {
      const details =
        messages.length === 0 ? 'no message received for unary call' : 'too many responses received'
      return { status: { code: Code.UNIMPLEMENTED, details } }
    }
    try {
      return { status, response: decodeMessage(spec.response, messages[0]!) }
    } catch (err) {
      const details = `response message parsing error: ${err instanceof Error ? err.message : String(err)}`
      return { status: { code: Code.INTERNAL, details } }
    }
  }

  const call: Unary<object, unknown> = async (method, request, signal) => {
    const { status, response } = await invoke(method, request, signal)
    if (status.code !== Code.OK) throw new HostCallError(status.code, status.details)
    return response
  }

  return {
    call,
    invoke,
    close: () => {
      closed = true
      session?.close()
      session = undefined
    },
  }
}
