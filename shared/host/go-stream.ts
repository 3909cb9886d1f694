import {
  connect as connectHttp2,
  constants as h2,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
} from 'node:http2'
import { connect as connectNet, type Socket } from 'node:net'
import type { StatusName } from '../plugin/errors.js'
import { statusName } from '../plugin/status.js'
import {
  decodeGrpcMessage,
  FramingError,
  MessageDecoder,
  messagePrefix,
  statusFromHttp,
  statusFromReset,
} from '../plugin/wire/grpc-framing.js'
import { HostCallError } from './calls.js'

/*
 * Why the launcher does not use grpc-js for attestation streams: the frames a host sends decide
 * whether the plugin's HTTP/2 server (nghttp2) stays up, and grpc-js's client sends other frames than
 * SPIRE's grpc-go client. SPIRE never half-closes an Attest stream: grpc-go answers the server's
 * trailers on a stream it still holds open with RST_STREAM(NO_ERROR) (http2_client.go operateHeaders),
 * and SPIRE's v1 facade returns at the result, its deferred cancel resetting the stream with
 * RST_STREAM(CANCEL) when the trailers are not in yet. So every attestation costs the plugin exactly one
 * RST_STREAM. grpc-js instead half-closes (END_STREAM) when the trailers arrive, and on Node 20
 * (nghttp2 1.61) also sends RST_STREAM(NO_ERROR) after it, while Node 22/24 (nghttp2 >= 1.66) drop that
 * reset for a closed stream — a host whose frames depend on its Node version. This module is the
 * grpc-go lifecycle on a raw HTTP/2 stream, with grpc-go's reaction to a GOAWAY (new streams go to a new
 * connection; a stream the server refused unprocessed is retried once, transparently).
 */

/** What the host's HTTP/2 connections saw: counts for tests and benches, never timings. */
export interface TransportCounts {
  /** Connections opened (one at first use, one more after each GOAWAY). */
  connections: number
  /** GOAWAY frames received, by HTTP/2 error code (0 NO_ERROR, 2 INTERNAL_ERROR...). */
  goaways: Record<number, number>
  /** RST_STREAM frames sent, by HTTP/2 error code (0 after the trailers, 8 on cancel). */
  resets: Record<number, number>
  /** Streams the server refused unprocessed, retried on a new connection. */
  retried: number
}

/** The launcher never limited the size of a message it receives; it still does not. */
const NO_SIZE_LIMIT = 0xffff_ffff

const bump = (counts: Record<number, number>, code: number): void => {
  counts[code] = (counts[code] ?? 0) + 1
}

/** One grpc-go ClientConn's worth of HTTP/2 to a plugin: a connection, replaced after a GOAWAY. */
export class GoStreamClient {
  readonly counts: TransportCounts = { connections: 0, goaways: {}, resets: {}, retried: 0 }
  readonly #dial: () => Socket
  readonly #sessions = new Set<ClientHttp2Session>()
  #current: ClientHttp2Session | undefined
  #closed = false

  constructor(network: 'unix' | 'tcp', address: string) {
    this.#dial =
      network === 'unix'
        ? () => connectNet(address)
        : () => {
            const i = address.lastIndexOf(':')
            return connectNet(Number(address.slice(i + 1)), address.slice(0, i))
          }
  }

  /** Opens a bidi stream on `path` (e.g. `/pkg.Service/Method`) with outgoing metadata. */
  open<Req, Res>(
    path: string,
    serialize: (value: Req) => Buffer,
    deserialize: (bytes: Buffer) => Res,
    metadata: Record<string, string> = {},
  ): GoBidiStream<Req, Res> {
    return new GoBidiStream(this, path, serialize, deserialize, metadata)
  }

  /** A connection that takes new streams: after a GOAWAY, a new one (grpc-go reconnects). */
  session(): ClientHttp2Session {
    const live = this.#current
    if (live !== undefined && !live.closed && !live.destroyed) return live
    if (this.#closed)
      throw new HostCallError('Unavailable', 'grpc: the client connection is closing')
    const session = connectHttp2('http://localhost', { createConnection: this.#dial })
    this.counts.connections++
    this.#sessions.add(session)
    this.#current = session
    const retire = (): void => {
      if (this.#current === session) this.#current = undefined
    }
    session.on('goaway', (code: number) => {
      bump(this.counts.goaways, code)
      retire()
    })
    // a connection error reaches every stream on it as a 'close' without status
    session.on('error', () => {})
    session.on('close', () => {
      retire()
      this.#sessions.delete(session)
    })
    return session
  }

  /** Like grpc-go's ClientConn.Close on unload: every connection goes, streams still open fail. */
  close(): void {
    this.#closed = true
    for (const session of this.#sessions) session.destroy()
    this.#sessions.clear()
    this.#current = undefined
  }
}

type Settled = { status: HostCallError | null }

/**
 * The host's end of one bidi stream, as grpc-go's ClientStream: `send`, `next` (undefined once the
 * server ended the stream with OK), `cancel`. It never half-closes.
 */
export class GoBidiStream<Req, Res> {
  readonly #client: GoStreamClient
  readonly #path: string
  readonly #metadata: Record<string, string>
  readonly #serialize: (value: Req) => Buffer
  readonly #deserialize: (bytes: Buffer) => Res
  readonly #messages: Res[] = []
  /** Frames sent before the server answered: replayed if it refuses the stream unprocessed. */
  #unanswered: Buffer[] | undefined = []
  #req!: ClientHttp2Stream
  #decoder = new MessageDecoder(NO_SIZE_LIMIT)
  #settled: Settled | undefined
  #waiter: (() => void) | undefined
  #httpStatus: number | undefined
  #reset = false
  #retried = false
  /** No more DATA can come: the server's END_STREAM was read, or the stream closed. */
  #readDone = false

  constructor(
    client: GoStreamClient,
    path: string,
    serialize: (value: Req) => Buffer,
    deserialize: (bytes: Buffer) => Res,
    metadata: Record<string, string>,
  ) {
    this.#client = client
    this.#path = path
    this.#serialize = serialize
    this.#deserialize = deserialize
    this.#metadata = metadata
    this.#attempt()
  }

  send(message: Req): void {
    if (this.#settled !== undefined || this.#reset) return // grpc-go: Send after the end is io.EOF
    const body = this.#serialize(message)
    const frame = Buffer.concat([messagePrefix(body.length), body])
    this.#unanswered?.push(frame)
    this.#req.write(frame)
  }

  /** The next message; undefined after the server's OK status; HostCallError on any other end. */
  async next(): Promise<Res | undefined> {
    for (;;) {
      const message = this.#messages.shift()
      if (message !== undefined) return message
      const settled = this.#settled
      if (settled !== undefined && settled.status !== null) throw settled.status
      // OK: the messages sent before the trailers may still be on their way up the stream
      if (settled !== undefined && this.#readDone) return undefined
      await new Promise<void>((resolve) => (this.#waiter = resolve))
    }
  }

  /** SPIRE's deferred context cancel: RST_STREAM(CANCEL) unless the stream already ended. */
  cancel(): void {
    if (this.#settled === undefined)
      this.#settle(new HostCallError('Cancelled', 'context canceled'))
    this.#resetStream(h2.NGHTTP2_CANCEL)
  }

  #attempt(): void {
    const session = this.#client.session()
    const req = session.request({
      ':method': 'POST',
      ':path': this.#path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...this.#metadata,
    })
    this.#req = req
    this.#decoder = new MessageDecoder(NO_SIZE_LIMIT)
    this.#readDone = false
    req.on('response', (headers: IncomingHttpHeaders, flags: number) => {
      if (req !== this.#req) return
      this.#unanswered = undefined
      this.#httpStatus = Number(headers[':status'])
      if (flags & h2.NGHTTP2_FLAG_END_STREAM) this.#onTrailers(headers)
    })
    req.on('data', (chunk: Buffer) => {
      if (req === this.#req) this.#onData(chunk)
    })
    req.on('trailers', (headers: IncomingHttpHeaders) => {
      if (req === this.#req) this.#onTrailers(headers)
    })
    req.on('error', () => {}) // its 'close' carries the outcome
    req.on('end', () => {
      if (req !== this.#req) return
      this.#readDone = true
      this.#wake()
    })
    req.on('close', () => {
      if (req === this.#req) this.#onClose(req, session)
    })
    for (const frame of this.#unanswered ?? []) req.write(frame)
  }

  #onData(chunk: Buffer): void {
    const bodies: Buffer[] = []
    try {
      this.#decoder.push(chunk, bodies)
    } catch (err) {
      if (!(err instanceof FramingError)) throw err
      this.#fail(statusName(err.status.code), err.status.details)
      return
    }
    for (const body of bodies) this.#messages.push(this.#deserialize(body))
    this.#wake()
  }

  #onTrailers(headers: IncomingHttpHeaders): void {
    // grpc-go: the server ended a stream the host still holds open → RST_STREAM(NO_ERROR)
    this.#resetStream(h2.NGHTTP2_NO_ERROR)
    if (this.#settled !== undefined) return
    const code = headers['grpc-status']
    if (code === undefined) {
      const http = this.#httpStatus ?? 0
      const fromHttp = statusFromHttp(http)
      this.#settle(
        http !== 200
          ? new HostCallError(statusName(fromHttp.code), fromHttp.details)
          : new HostCallError('Internal', 'server closed the stream without sending trailers'),
      )
      return
    }
    const status = statusName(Number(code))
    this.#settle(
      Number(code) === 0
        ? null
        : new HostCallError(status, decodeGrpcMessage(headers['grpc-message'])),
    )
  }

  #onClose(req: ClientHttp2Stream, session: ClientHttp2Session): void {
    this.#readDone = true
    if (this.#settled !== undefined) {
      this.#wake()
      return
    }
    const code = req.rstCode ?? h2.NGHTTP2_INTERNAL_ERROR
    if (code === h2.NGHTTP2_REFUSED_STREAM && this.#unanswered !== undefined && !this.#retried) {
      // refused unprocessed (opened as the server's GOAWAY was on its way): grpc-go retries it
      this.#retried = true
      this.#client.counts.retried++
      this.#attempt()
      return
    }
    if (session.destroyed) {
      this.#fail('Unavailable', 'error reading from server: connection closed')
    } else if (code === h2.NGHTTP2_NO_ERROR) {
      this.#fail('Internal', 'server closed the stream without sending trailers')
    } else {
      const reset = statusFromReset(code)
      this.#fail(statusName(reset.code), reset.details)
    }
  }

  #resetStream(code: number): void {
    if (this.#reset || this.#req.closed || this.#req.destroyed) return
    this.#reset = true
    bump(this.#client.counts.resets, code)
    resetOnly(this.#req, code)
  }

  #fail(code: StatusName, details: string): void {
    this.#settle(new HostCallError(code, details))
    this.#resetStream(h2.NGHTTP2_CANCEL)
  }

  #settle(status: HostCallError | null): void {
    if (this.#settled !== undefined) return
    this.#settled = { status }
    this.#wake()
  }

  #wake(): void {
    const waiter = this.#waiter
    this.#waiter = undefined
    waiter?.()
  }
}

/**
 * RST_STREAM alone, as grpc-go sends it. Node's public `close(code)` half-closes a stream whose
 * writable side is open first (END_STREAM, then RST_STREAM; on Node 22/24 the reset is then dropped
 * when the server had ended too), which grpc-go never does. `close` ends by calling the stream's
 * native handle (`this[kHandle].rstStream(code)` in lib/internal/http2/core.js, Node 20 to 24, the
 * symbol named `handle` or `kHandle`); this calls it directly, and falls back to `close` should a
 * Node release hide it.
 */
export function resetOnly(req: ClientHttp2Stream, code: number): void {
  const own = req as unknown as Record<symbol, { rstStream?: unknown } | undefined>
  for (const key of Object.getOwnPropertySymbols(req)) {
    const handle = own[key]
    if (typeof handle?.rstStream === 'function') {
      ;(handle as { rstStream(code: number): void }).rstStream(code)
      return
    }
  }
  req.close(code)
}
