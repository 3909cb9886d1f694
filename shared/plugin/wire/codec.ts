/**
 * A small proto3 codec for the fixed set of messages SPIRE and go-plugin exchange with a plugin. It
 * replaces runtime .proto parsing (protobufjs), which cost more start-up time than the rest of a
 * plugin. Decoded objects have the shape @grpc/proto-loader gives with keepCase, longs: String,
 * enums: String, defaults: false, arrays: true, oneofs: true. `test/shared/plugin/wire.test.ts`
 * checks every schema against proto/ and round-trips through protobufjs.
 */

export type ScalarType = 'string' | 'bytes' | 'bool' | 'uint32' | 'int64' | 'float' | 'enum'

export interface FieldSpec {
  name: string
  no: number
  type: ScalarType | 'message'
  message?: () => MessageSpec
  repeated?: boolean
  oneof?: string
  /** Enum value names by number (enums decode to and encode from their names). */
  values?: readonly string[]
}

export interface MessageSpec {
  /** Fully qualified proto name, e.g. `plugin.ConnInfo`. */
  name: string
  fields: readonly FieldSpec[]
}

export type Decoded = Record<string, unknown>

const WIRE_VARINT = 0
const WIRE_I64 = 1
const WIRE_LEN = 2
const WIRE_I32 = 5

/**
 * Bytes appended to one growing buffer. Varints below 2^31 (every tag and length, most numbers) take
 * a number path; only 64-bit values go through BigInt.
 */
class Writer {
  #buf: Buffer
  #pos: number

  constructor(reserve = 0) {
    this.#buf = Buffer.allocUnsafe(64 + reserve)
    this.#pos = reserve
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + n))
    this.#buf.copy(grown, 0, 0, this.#pos)
    this.#buf = grown
  }

  uvarint(value: number): void {
    this.#ensure(5)
    let v = value >>> 0
    while (v > 0x7f) {
      this.#buf[this.#pos++] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    this.#buf[this.#pos++] = v
  }

  varint(value: bigint): void {
    if (value >= 0n && value <= 0x7fffffffn) {
      this.uvarint(Number(value))
      return
    }
    this.#ensure(10)
    let v = BigInt.asUintN(64, value)
    while (v > 0x7fn) {
      this.#buf[this.#pos++] = Number(v & 0x7fn) | 0x80
      v >>= 7n
    }
    this.#buf[this.#pos++] = Number(v)
  }

  tag(no: number, wire: number): void {
    this.uvarint((no << 3) | wire)
  }

  bytes(data: Uint8Array): void {
    this.uvarint(data.length)
    this.raw(data)
  }

  string(s: string): void {
    const length = Buffer.byteLength(s, 'utf8')
    this.uvarint(length)
    this.#ensure(length)
    this.#pos += this.#buf.write(s, this.#pos, length, 'utf8')
  }

  raw(data: Uint8Array): void {
    this.#ensure(data.length)
    this.#buf.set(data, this.#pos)
    this.#pos += data.length
  }

  /** The bytes written, from offset 0 (a reserved prefix included). */
  finish(): Buffer {
    return this.#buf.subarray(0, this.#pos)
  }
}

export function encodeMessage(spec: MessageSpec, value: unknown): Buffer {
  const w = new Writer()
  writeMessage(w, spec, value)
  return w.finish()
}

/** `value` encoded behind gRPC's 5-byte message prefix (uncompressed), in one buffer. */
export function encodeFramedMessage(spec: MessageSpec, value: unknown): Buffer {
  const w = new Writer(5)
  writeMessage(w, spec, value)
  const out = w.finish()
  out[0] = 0
  out.writeUInt32BE(out.length - 5, 1)
  return out
}

function writeMessage(w: Writer, spec: MessageSpec, value: unknown): void {
  const obj = (value ?? {}) as Record<string, unknown>
  for (const field of spec.fields) {
    const v = obj[field.name]
    if (v === undefined || v === null) continue
    if (field.repeated) {
      if (!Array.isArray(v)) throw new TypeError(`${spec.name}.${field.name} must be an array`)
      for (const item of v) encodeField(w, field, item, true)
    } else {
      encodeField(w, field, v, field.oneof !== undefined)
    }
  }
}

function encodeField(w: Writer, f: FieldSpec, v: unknown, always: boolean): void {
  switch (f.type) {
    case 'string': {
      const s = String(v)
      if (s === '' && !always) return
      w.tag(f.no, WIRE_LEN)
      w.string(s)
      return
    }
    case 'bytes': {
      const b = typeof v === 'string' ? Buffer.from(v, 'base64') : (v as Uint8Array)
      if (b.length === 0 && !always) return
      w.tag(f.no, WIRE_LEN)
      w.bytes(b)
      return
    }
    case 'bool':
      if (v !== true && !always) return
      w.tag(f.no, WIRE_VARINT)
      w.uvarint(v === true ? 1 : 0)
      return
    case 'uint32':
    case 'int64': {
      if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x7fffffff) {
        if (v === 0 && !always) return
        w.tag(f.no, WIRE_VARINT)
        w.uvarint(v)
        return
      }
      const n = BigInt(v as number | string | bigint)
      if (n === 0n && !always) return
      w.tag(f.no, WIRE_VARINT)
      w.varint(f.type === 'uint32' ? BigInt.asUintN(32, n) : n)
      return
    }
    case 'enum': {
      const n = typeof v === 'number' ? v : (f.values ?? []).indexOf(String(v))
      if (n < 0) throw new TypeError(`unknown enum value ${String(v)} for ${f.name}`)
      if (n === 0 && !always) return
      w.tag(f.no, WIRE_VARINT)
      w.varint(BigInt(n))
      return
    }
    case 'float': {
      const n = Number(v)
      if (n === 0 && !always) return
      const buf = Buffer.alloc(4)
      buf.writeFloatLE(n)
      w.tag(f.no, WIRE_I32)
      w.raw(buf)
      return
    }
    case 'message':
      w.tag(f.no, WIRE_LEN)
      w.bytes(encodeMessage(f.message!(), v))
      return
  }
}

class Reader {
  pos = 0
  readonly buf: Buffer

  constructor(buf: Buffer) {
    this.buf = buf
  }

  get done(): boolean {
    return this.pos >= this.buf.length
  }

  /** A varint as a number (tags, lengths): 28 bits on a fast path, else exact up to 2^53. */
  small(): number {
    const buf = this.buf
    let result = 0
    for (let shift = 0; shift < 28; shift += 7) {
      if (this.pos >= buf.length) throw new RangeError('truncated varint')
      const byte = buf[this.pos++]!
      result |= (byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return result
    }
    // more than four bytes: go back and read it whole
    this.pos -= 4
    const big = this.varint()
    return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : Number.MAX_SAFE_INTEGER
  }

  varint(): bigint {
    let result = 0n
    let shift = 0n
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new RangeError('truncated varint')
      const byte = this.buf[this.pos++]!
      result |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, result)
      shift += 7n
    }
    throw new RangeError('varint too long')
  }

  take(n: number): Buffer {
    if (n < 0 || this.pos + n > this.buf.length) throw new RangeError('truncated field')
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint()
    else if (wire === WIRE_I64) this.take(8)
    else if (wire === WIRE_LEN) this.take(this.small())
    else if (wire === WIRE_I32) this.take(4)
    else throw new RangeError(`unsupported wire type ${wire}`)
  }
}

export function decodeMessage(spec: MessageSpec, data: Buffer): Decoded {
  const out: Decoded = {}
  for (const f of spec.fields) if (f.repeated) out[f.name] = []
  const byNo = fieldsByNumber(spec)
  const r = new Reader(data)
  while (!r.done) {
    const key = r.small()
    const no = Math.floor(key / 8)
    const wire = key % 8
    const f = byNo.get(no)
    if (f === undefined || wire !== wireTypeOf(f)) {
      r.skip(wire)
      continue
    }
    const value = decodeField(r, f)
    if (f.repeated) (out[f.name] as unknown[]).push(value)
    else out[f.name] = value
    if (f.oneof !== undefined) {
      for (const other of spec.fields) {
        if (other.oneof === f.oneof && other !== f) delete out[other.name]
      }
      out[f.oneof] = f.name
    }
  }
  return out
}

const FIELDS_BY_NUMBER = new WeakMap<MessageSpec, Map<number, FieldSpec>>()

function fieldsByNumber(spec: MessageSpec): Map<number, FieldSpec> {
  let byNo = FIELDS_BY_NUMBER.get(spec)
  if (byNo === undefined) {
    byNo = new Map(spec.fields.map((f) => [f.no, f]))
    FIELDS_BY_NUMBER.set(spec, byNo)
  }
  return byNo
}

function wireTypeOf(f: FieldSpec): number {
  switch (f.type) {
    case 'string':
    case 'bytes':
    case 'message':
      return WIRE_LEN
    case 'float':
      return WIRE_I32
    default:
      return WIRE_VARINT
  }
}

function decodeField(r: Reader, f: FieldSpec): unknown {
  switch (f.type) {
    case 'string':
      return r.take(r.small()).toString('utf8')
    case 'bytes':
      return Buffer.from(r.take(r.small()))
    case 'bool':
      return r.varint() !== 0n
    case 'uint32':
      return Number(BigInt.asUintN(32, r.varint()))
    case 'int64':
      return BigInt.asIntN(64, r.varint()).toString()
    case 'enum': {
      const n = Number(BigInt.asIntN(32, r.varint()))
      return f.values?.[n] ?? n
    }
    case 'float':
      return r.take(4).readFloatLE(0)
    case 'message':
      return decodeMessage(f.message!(), r.take(r.small()))
  }
}
