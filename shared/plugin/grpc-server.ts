/**
 * The plugin's gRPC server, written on `node:http2` instead of taken from grpc-js. Why by hand: the
 * plugin serves one peer (its SPIRE process) over a private unix socket, a fixed set of methods, in
 * plaintext and without compression, so all it needs from gRPC is length-prefixed messages, headers
 * and trailers, deadlines and cancellation (wire/grpc-framing.ts). grpc-js's server builds a chain of
 * call, interceptor, metadata, decoder and tracker objects for every stream; profiled at fleet rates
 * that machinery, with what it allocates, was the largest share of the runtime's CPU per attestation
 * left (docs/performance.md, issue 12 §3), and loading grpc-js was most of a plugin's start-up. Here a
 * stream costs one call object and the http2 stream's own listeners.
 *
 * What grpc-go (SPIRE) expects, and this does: `:status 200` and `content-type: application/grpc`,
 * messages in DATA frames, status in trailers (`grpc-status`, percent-encoded `grpc-message`), or a
 * trailers-only HEADERS frame when the call fails before its first message; `grpc-timeout` enforced
 * as DEADLINE_EXCEEDED; an unknown method answered UNIMPLEMENTED; messages over the size limit
 * RESOURCE_EXHAUSTED; compressed messages (never negotiated) INTERNAL.
 */
import {
  constants as h2,
  createServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2'
import { coarseTimers, type CancelDeadline } from './coarse-timers.js'
import { PluginError } from './errors.js'
import { retireAfter } from './stream-budget.js'
import { StreamReader } from './stream-reader.js'
import { decodeMessage, encodeFramedMessage } from './wire/codec.js'
import {
  Code,
  encodeGrpcMessage,
  FramingError,
  MessageDecoder,
  PREFIX_BYTES,
  parseGrpcTimeout,
  type GrpcStatus,
} from './wire/grpc-framing.js'
import { SERVICES, type MethodSpec } from './wire/schema.js'

/** One call as a handler sees it, whatever the method's kind. */
export interface ServerCall<Req, Res> {
  /** The request's custom metadata (headers other than HTTP/2's and gRPC's own). */
  metadata(): Record<string, string>
  /** True once the host cancelled the call, its deadline passed, or the server shut down. */
  readonly cancelled: boolean
  /** The next request message; undefined once the host half-closed; rejects once cancelled. */
  next(what: string, timeoutMs?: number): Promise<Req | undefined>
  /** Sends one response message (nothing once the call is over). */
  write(message: Res): void
  /** Ends the call with `status` (OK when omitted); later calls are no-ops. */
  end(status?: GrpcStatus): void
  /** Runs `listener` once if the call is cancelled before it ended. */
  onCancel(listener: () => void): void
  /** Runs `listener` once the HTTP/2 stream has closed (its last frame sent, or reset). */
  onClosed(listener: () => void): void
}

export type Handler = (call: ServerCall<never, never>) => void

export interface GrpcServerOptions {
  /** Largest message accepted or sent, in bytes. */
  maxMessageBytes: number
  /** Streams a connection carries before it is retired gracefully (stream-budget.ts). */
  streamsPerConnection?: number
}

const RESPONSE_HEADERS = {
  [h2.HTTP2_HEADER_STATUS]: 200,
  [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
} as const

/** Request headers that are gRPC's or HTTP's own, never a call's metadata. */
const RESERVED_HEADERS = new Set([
  'content-type',
  'te',
  'grpc-timeout',
  'grpc-encoding',
  'grpc-accept-encoding',
  'accept-encoding',
  'user-agent',
])

/**
 * How long a call may stay half-open after its status was sent before the server resets it
 * (RST_STREAM NO_ERROR, as grpc-go's server does at once). SPIRE resets or half-closes each stream
 * itself as soon as it has the result, so the grace keeps the server's reset from racing SPIRE's;
 * it only ever fires for a host that does neither, whose streams would otherwise stay open.
 */
const HALF_OPEN_GRACE_MS = 1_000

const CANCELLED = (): PluginError =>
  new PluginError('Cancelled', 'stream_cancelled', 'stream cancelled by host')

class Call implements ServerCall<unknown, unknown> {
  cancelled = false
  readonly #stream: ServerHttp2Stream
  readonly #headers: IncomingHttpHeaders
  readonly #method: MethodSpec
  readonly #maxBytes: number
  readonly #reader = new StreamReader<unknown>()
  readonly #decoder: MessageDecoder
  readonly #onDone: (call: Call) => void
  #responded = false
  #ended = false
  #cancelListeners: (() => void)[] | undefined
  #deadline: CancelDeadline | undefined
  #halfClosed = false
  #linger: CancelDeadline | undefined

  constructor(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    method: MethodSpec,
    maxBytes: number,
    onDone: (call: Call) => void,
  ) {
    this.#stream = stream
    this.#headers = headers
    this.#method = method
    this.#maxBytes = maxBytes
    this.#decoder = new MessageDecoder(maxBytes)
    this.#onDone = onDone
    stream.on('data', (chunk: Buffer) => this.#receive(chunk))
    stream.on('end', () => {
      // Node also ends the readable side of a stream the host reset: that is a cancel ('close'
      // follows), not a half-close
      const reset = stream.rstCode
      if (reset !== undefined && reset !== h2.NGHTTP2_NO_ERROR) return
      this.#halfClosed = true
      if (this.#decoder.partial) {
        this.end({ code: Code.INTERNAL, details: 'stream ended inside a message' })
      } else this.#reader.end()
    })
    // a reset or a dropped connection: 'close' follows, which decides
    stream.on('error', () => {})
    stream.on('close', () => {
      this.#linger?.()
      if (!this.#ended) this.cancel(CANCELLED())
      this.#finish()
    })
    const timeoutMs = parseGrpcTimeout(headers['grpc-timeout'])
    if (timeoutMs !== undefined) {
      this.#deadline = coarseTimers.after(timeoutMs, () => {
        this.end({ code: Code.DEADLINE_EXCEEDED, details: 'deadline exceeded' })
        this.cancel(new PluginError('DeadlineExceeded', 'stream_timeout', 'deadline exceeded'))
      })
    }
  }

  metadata(): Record<string, string> {
    const out: Record<string, string> = {}
    for (const [key, value] of Object.entries(this.#headers)) {
      if (key.startsWith(':') || RESERVED_HEADERS.has(key) || value === undefined) continue
      out[key] = Array.isArray(value) ? value.join(', ') : value
    }
    return out
  }

  next(what: string, timeoutMs?: number): Promise<unknown> {
    return this.#reader.next(what, timeoutMs)
  }

  write(message: unknown): void {
    // a stream the host reset is closed at once, before its 'close' event (and so before
    // `cancelled`): writing to it would throw
    if (this.#ended || this.#stream.destroyed || this.#stream.closed) return
    let body: Buffer
    try {
      body = encodeFramedMessage(this.#method.response, message)
    } catch (err) {
      this.end({ code: Code.INTERNAL, details: `cannot encode the response: ${String(err)}` })
      return
    }
    if (body.length - PREFIX_BYTES > this.#maxBytes) {
      this.end({
        code: Code.RESOURCE_EXHAUSTED,
        details: `sent message larger than max (${body.length - PREFIX_BYTES} vs. ${this.#maxBytes})`,
      })
      return
    }
    if (!this.#responded) {
      this.#responded = true
      this.#stream.respond(RESPONSE_HEADERS, { waitForTrailers: true })
    }
    this.#stream.write(body)
  }

  end(status: GrpcStatus = { code: Code.OK, details: '' }): void {
    if (this.#ended) return
    this.#ended = true
    const stream = this.#stream
    if (stream.destroyed || stream.closed) {
      this.#finish()
      return
    }
    const trailers = {
      'grpc-status': String(status.code),
      'grpc-message': encodeGrpcMessage(status.details),
    }
    if (this.#responded) {
      stream.once('wantTrailers', () => stream.sendTrailers(trailers))
      stream.end()
    } else {
      // trailers-only: the call failed (or ended) before its first message
      this.#responded = true
      stream.respond({ ...RESPONSE_HEADERS, ...trailers }, { endStream: true })
    }
    if (!this.#halfClosed) {
      this.#linger = coarseTimers.after(HALF_OPEN_GRACE_MS, () => {
        if (!stream.destroyed) stream.close(h2.NGHTTP2_NO_ERROR)
      })
    }
    this.#finish()
  }

  onCancel(listener: () => void): void {
    if (this.cancelled) listener()
    else (this.#cancelListeners ??= []).push(listener)
  }

  onClosed(listener: () => void): void {
    if (this.#stream.closed) listener()
    else this.#stream.once('close', listener)
  }

  /** The call is over for the handler: reads fail with `reason`, cancel listeners run once. */
  cancel(reason: unknown): void {
    if (this.cancelled) return
    this.cancelled = true
    this.#reader.fail(reason)
    const listeners = this.#cancelListeners
    this.#cancelListeners = undefined
    for (const listener of listeners ?? []) listener()
  }

  /** Shuts the call down with the server: cancelled for the handler, reset for the host. */
  abort(): void {
    this.cancel(new PluginError('Cancelled', 'stream_cancelled', 'plugin shutting down'))
    this.#ended = true
    if (!this.#stream.destroyed) this.#stream.close(h2.NGHTTP2_CANCEL)
    this.#finish()
  }

  #receive(chunk: Buffer): void {
    const messages: Buffer[] = []
    try {
      this.#decoder.push(chunk, messages)
    } catch (err) {
      if (!(err instanceof FramingError)) throw err
      this.end(err.status)
      this.cancel(new PluginError('Cancelled', 'stream_cancelled', err.status.details))
      return
    }
    for (const bytes of messages) {
      let message: unknown
      try {
        message = decodeMessage(this.#method.request, bytes)
      } catch (err) {
        const details = `cannot decode the request: ${err instanceof Error ? err.message : String(err)}`
        this.end({ code: Code.INTERNAL, details })
        this.cancel(new PluginError('Cancelled', 'stream_cancelled', details))
        return
      }
      this.#reader.push(message)
    }
  }

  #finish(): void {
    this.#deadline?.()
    this.#deadline = undefined
    this.#onDone(this)
  }
}

/** A gRPC server on one unix socket, for the services in wire/schema.ts. */
export class GrpcServer {
  readonly #handlers = new Map<string, { method: MethodSpec; handler: Handler }>()
  readonly #options: GrpcServerOptions
  readonly #calls = new Set<Call>()
  readonly #sessions = new Set<ServerHttp2Session>()
  #server: Http2Server | undefined

  constructor(options: GrpcServerOptions) {
    this.#options = options
  }

  /** Serves `service`'s methods with `handlers` (by method name, as in wire/schema.ts). */
  addService(service: string, handlers: Record<string, Handler>): void {
    const methods = SERVICES[service]
    if (methods === undefined) throw new Error(`service ${service} has no schema`)
    for (const [name, handler] of Object.entries(handlers)) {
      const method = methods[name]
      if (method === undefined) throw new Error(`service ${service} has no method ${name}`)
      this.#handlers.set(`/${service}/${name}`, { method, handler })
    }
  }

  /** Listens on the unix socket `path`. */
  listen(path: string): Promise<void> {
    const server = createServer({
      // Node's default (10 MB per session) answers a busy host with ENHANCE_YOUR_CALM; the only peer
      // is the parent SPIRE process, so its memory is bounded by what SPIRE sends (grpc-js does the same)
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
    })
    this.#server = server
    server.on('session', (session) => {
      this.#sessions.add(session)
      session.on('close', () => this.#sessions.delete(session))
      session.on('error', () => {})
      retireAfter(session, this.#options.streamsPerConnection)
    })
    server.on('stream', (stream, headers) => this.#dispatch(stream, headers))
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, () => {
        server.off('error', reject)
        server.on('error', () => {})
        resolve()
      })
    })
  }

  /** Cancels every call, drops every connection and stops listening. */
  forceShutdown(): void {
    for (const call of [...this.#calls]) call.abort()
    for (const session of [...this.#sessions]) session.destroy()
    this.#server?.close()
  }

  #dispatch(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const contentType = headers['content-type']
    if (headers[':method'] !== 'POST' || !contentType?.startsWith('application/grpc')) {
      stream.on('error', () => {})
      const status = headers[':method'] !== 'POST' ? 405 : 415
      stream.respond({ [h2.HTTP2_HEADER_STATUS]: status }, { endStream: true })
      return
    }
    const path = headers[':path'] ?? ''
    const entry = this.#handlers.get(path)
    const encoding = headers['grpc-encoding']
    if (entry === undefined || (encoding !== undefined && encoding !== 'identity')) {
      stream.on('error', () => {})
      const details =
        entry === undefined
          ? `unknown method ${path}`
          : `grpc-encoding ${String(encoding)} is not supported`
      stream.respond(
        {
          ...RESPONSE_HEADERS,
          'grpc-status': String(Code.UNIMPLEMENTED),
          'grpc-message': encodeGrpcMessage(details),
          'grpc-accept-encoding': 'identity',
        },
        { endStream: true },
      )
      return
    }
    const call = new Call(stream, headers, entry.method, this.#options.maxMessageBytes, (c) =>
      this.#calls.delete(c),
    )
    this.#calls.add(call)
    try {
      entry.handler(call as ServerCall<never, never>)
    } catch (err) {
      call.end({ code: Code.INTERNAL, details: `internal error: ${String(err)}` })
    }
  }
}

/**
 * A unary (or server-streaming) method's handler from a function of its one request: the answer is
 * sent and the call ended OK, a throw ends it with `toStatus(err)`.
 */
export function unaryHandler<Req, Res>(
  answer: (request: Req) => Promise<Res> | Res,
  toStatus: (err: unknown) => GrpcStatus,
  /** Runs once the answer has left (the stream closed), e.g. for background work after it. */
  afterAnswer?: () => void,
): Handler {
  return (call) => {
    const typed = call as unknown as ServerCall<Req, Res>
    if (afterAnswer !== undefined) typed.onClosed(afterAnswer)
    typed
      .next('the request')
      .then(async (request) => {
        if (request === undefined) {
          typed.end({ code: Code.INTERNAL, details: 'no request message received' })
          return
        }
        typed.write(await answer(request))
        typed.end()
      })
      .catch((err: unknown) => {
        if (!typed.cancelled) typed.end(toStatus(err))
      })
  }
}
