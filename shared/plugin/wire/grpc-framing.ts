/**
 * gRPC over HTTP/2's own encodings, as the spec (PROTOCOL-HTTP2.md) defines them and grpc-go reads and
 * writes them: the 5-byte message prefix (compressed flag, big-endian length), `grpc-timeout` and
 * `grpc-message`'s percent-encoding, and grpc-go's statuses for a response that carries none. The
 * plugin's server (grpc-server.ts), its host-service client (host-connection.ts) and the test host's
 * grpc-go stream (shared/host/go-stream.ts) share them.
 */
import { constants as h2 } from 'node:http2'

/** Numeric gRPC status codes (google.golang.org/grpc/codes). */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const

/** A gRPC status: a code and its message. */
export interface GrpcStatus {
  code: number
  details: string
}

export const PREFIX_BYTES = 5

/** The 5-byte prefix of an uncompressed message of `length` bytes. */
export function messagePrefix(length: number): Buffer {
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES)
  prefix[0] = 0
  prefix.writeUInt32BE(length, 1)
  return prefix
}

/** A framing fault: the status the call ends with. */
export class FramingError extends Error {
  readonly status: GrpcStatus

  constructor(code: number, details: string) {
    super(details)
    this.status = { code, details }
  }
}

/**
 * Splits an HTTP/2 DATA stream into gRPC messages. Chunks need not align with messages; a chunk
 * holding exactly one whole message (the usual case) is handed on without a copy.
 */
export class MessageDecoder {
  readonly #maxBytes: number
  #pending: Buffer | undefined

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  /** Appends the complete messages in `chunk` to `out`; throws FramingError on a message refused. */
  push(chunk: Buffer, out: Buffer[]): void {
    let buf = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk])
    this.#pending = undefined
    let pos = 0
    while (buf.length - pos >= PREFIX_BYTES) {
      const flag = buf[pos]!
      const length = buf.readUInt32BE(pos + 1)
      if (flag !== 0) {
        throw new FramingError(
          Code.INTERNAL,
          flag === 1
            ? 'compressed message received, but no compression was negotiated'
            : `invalid message flag ${flag}`,
        )
      }
      if (length > this.#maxBytes) {
        throw new FramingError(
          Code.RESOURCE_EXHAUSTED,
          `received message larger than max (${length} vs. ${this.#maxBytes})`,
        )
      }
      if (buf.length - pos - PREFIX_BYTES < length) break
      out.push(buf.subarray(pos + PREFIX_BYTES, pos + PREFIX_BYTES + length))
      pos += PREFIX_BYTES + length
    }
    if (pos < buf.length) {
      // keep only the unread tail: a partial prefix or message
      buf = buf.subarray(pos)
      this.#pending = Buffer.from(buf)
    }
  }

  /** True while part of a message is still expected. */
  get partial(): boolean {
    return this.#pending !== undefined
  }
}

const TIMEOUT_UNITS_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 0.001,
  n: 0.000001,
}

/** `grpc-timeout` (1–8 digits and a unit) in milliseconds; undefined when absent or malformed. */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined
  const m = /^(\d{1,8})([HMSmun])$/.exec(value)
  if (m === null) return undefined
  return Number(m[1]) * TIMEOUT_UNITS_MS[m[2]!]!
}

/** Printable ASCII other than `%` travels as is; everything else as %XX of its UTF-8 bytes. */
const PLAIN_MESSAGE = /^[\x20-\x24\x26-\x7e]*$/

/** `grpc-message` for a status message (percent-encoded as the spec asks, unlike encodeURI). */
export function encodeGrpcMessage(message: string): string {
  if (PLAIN_MESSAGE.test(message)) return message
  let out = ''
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** The status message of a `grpc-message` header; malformed escapes stay as they are (grpc-go's rule). */
export function decodeGrpcMessage(value: string | string[] | undefined): string {
  if (typeof value !== 'string') return ''
  if (!value.includes('%')) return value
  try {
    // the usual case: well-formed escapes of UTF-8
    return decodeURIComponent(value)
  } catch {
    // a malformed escape or invalid UTF-8: byte by byte below
  }
  const bytes: number[] = []
  for (let i = 0; i < value.length; i++) {
    const hex = value.slice(i + 1, i + 3)
    if (value[i] === '%' && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16))
      i += 2
    } else {
      bytes.push(...Buffer.from(value[i]!, 'utf8'))
    }
  }
  return Buffer.from(bytes).toString('utf8')
}

/** grpc-go's HTTPStatusConvTab: the code of a response that is not gRPC, by its HTTP status. */
const HTTP_STATUS_CODES: Readonly<Record<number, number>> = {
  400: Code.INTERNAL,
  401: Code.UNAUTHENTICATED,
  403: Code.PERMISSION_DENIED,
  404: Code.UNIMPLEMENTED,
  429: Code.UNAVAILABLE,
  502: Code.UNAVAILABLE,
  503: Code.UNAVAILABLE,
  504: Code.UNAVAILABLE,
}

/** The status grpc-go reports when a response carries no grpc-status: from the HTTP status. */
export function statusFromHttp(httpStatus: number): GrpcStatus {
  return {
    code: HTTP_STATUS_CODES[httpStatus] ?? Code.UNKNOWN,
    details: `unexpected HTTP status code received from server: ${httpStatus}`,
  }
}

/** grpc-go's http2ErrConvTab: the code of a stream reset before any status, by RST_STREAM code. */
const RESET_CODES: Readonly<Record<number, number>> = {
  [h2.NGHTTP2_FLOW_CONTROL_ERROR]: Code.RESOURCE_EXHAUSTED,
  [h2.NGHTTP2_REFUSED_STREAM]: Code.UNAVAILABLE,
  [h2.NGHTTP2_CANCEL]: Code.CANCELLED,
  [h2.NGHTTP2_ENHANCE_YOUR_CALM]: Code.RESOURCE_EXHAUSTED,
  [h2.NGHTTP2_INADEQUATE_SECURITY]: Code.PERMISSION_DENIED,
}

/** The status grpc-go reports for a stream reset before it carried a status. */
export function statusFromReset(rstCode: number): GrpcStatus {
  return {
    code: RESET_CODES[rstCode] ?? Code.INTERNAL,
    details: `stream terminated by RST_STREAM with error code: ${rstCode}`,
  }
}
