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

class Writer {
  readonly #chunks: Buffer[] = []

  varint(value: bigint): void {
    let v = BigInt.asUintN(64, value)
    const bytes: number[] = []
    while (v > 0x7fn) {
      bytes.push(Number(v & 0x7fn) | 0x80)
      v >>= 7n
    }
    bytes.push(Number(v))
    this.#chunks.push(Buffer.from(bytes))
  }

  tag(no: number, wire: number): void {
    this.varint(BigInt((no << 3) | wire))
  }

  bytes(data: Uint8Array): void {
    this.varint(BigInt(data.length))
    this.#chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
  }

  raw(data: Buffer): void {
    this.#chunks.push(data)
  }

  finish(): Buffer {
    return Buffer.concat(this.#chunks)
  }
}

export function encodeMessage(spec: MessageSpec, value: unknown): Buffer {
  const w = new Writer()
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
  return w.finish()
}

function encodeField(w: Writer, f: FieldSpec, v: unknown, always: boolean): void {
  switch (f.type) {
    case 'string': {
      const s = String(v)
      if (s === '' && !always) return
      w.tag(f.no, WIRE_LEN)
      w.bytes(Buffer.from(s, 'utf8'))
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
      w.varint(v === true ? 1n : 0n)
      return
    case 'uint32':
    case 'int64': {
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
    else if (wire === WIRE_LEN) this.take(Number(this.varint()))
    else if (wire === WIRE_I32) this.take(4)
    else throw new RangeError(`unsupported wire type ${wire}`)
  }
}

export function decodeMessage(spec: MessageSpec, data: Buffer): Decoded {
  const out: Decoded = {}
  for (const f of spec.fields) if (f.repeated) out[f.name] = []
  const byNo = new Map(spec.fields.map((f) => [f.no, f]))
  const r = new Reader(data)
  while (!r.done) {
    const key = r.varint()
    const no = Number(key >> 3n)
    const wire = Number(key & 7n)
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
      return r.take(Number(r.varint())).toString('utf8')
    case 'bytes':
      return Buffer.from(r.take(Number(r.varint())))
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
      return decodeMessage(f.message!(), r.take(Number(r.varint())))
  }
}
