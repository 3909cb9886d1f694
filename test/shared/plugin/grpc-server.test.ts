import {
  credentials,
  Client,
  Metadata,
  status as GrpcStatus,
  type ServiceError,
} from '@grpc/grpc-js'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2'
import { connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { PluginError } from '../../../shared/plugin/errors.js'
import { healthService } from '../../../shared/plugin/go-plugin-services.js'
import { GrpcServer, unaryHandler, type ServerCall } from '../../../shared/plugin/grpc-server.js'
import { NOOP_LOGGER } from '../../../shared/plugin/logger.js'
import type {
  ServerAttestRequest,
  ServerAttestResponse,
  ConfigureRequest,
} from '../../../shared/plugin/messages.js'
import { SERVICE, serviceDefinition } from '../../../shared/plugin/protos.js'
import { toStatus } from '../../../shared/plugin/status.js'
import { decodeMessage, encodeMessage } from '../../../shared/plugin/wire/codec.js'
import {
  CONFIGURE_REQUEST,
  SERVER_ATTEST_REQUEST,
  SERVER_ATTEST_RESPONSE,
} from '../../../shared/plugin/wire/schema.js'
import { resetOnly } from '../../../shared/host/go-stream.js'

/**
 * The plugin's own gRPC server (shared/plugin/grpc-server.ts) against grpc-js's client, a real
 * gRPC implementation, and against raw HTTP/2 for what a client library never sends: split and
 * batched messages, compressed or oversized ones, deadlines, resets, wrong methods.
 */

const MAX_BYTES = 4096
const ATTEST = `/${SERVICE.serverNodeAttestor}/Attest`
const CONFIGURE = `/${SERVICE.config}/Configure`

/** Events the Attest test handler saw, by the payload's text. */
const seen = new Map<string, string[]>()
const note = (key: string, event: string): void => {
  seen.set(key, [...(seen.get(key) ?? []), event])
}

/** Attest, for these tests: echoes each payload as a challenge until the host half-closes. */
function echoHandler(untyped: ServerCall<never, never>): void {
  const call = untyped as unknown as ServerCall<ServerAttestRequest, ServerAttestResponse>
  let key = '?'
  call.onCancel(() => note(key, 'cancelled'))
  const loop = async (): Promise<void> => {
    for (;;) {
      const msg = await call.next('a message')
      if (msg === undefined) {
        note(key, 'half-closed')
        call.end()
        return
      }
      const text = Buffer.from(msg.payload ?? msg.challenge_response ?? []).toString()
      if (key === '?') key = text
      note(key, `got ${text}`)
      if (text === 'hang') continue
      if (text === 'fail')
        throw new PluginError('PermissionDenied', 'already_attested', 'no % naïve\nway')
      call.write({ challenge: Buffer.from(`echo ${text}`) })
    }
  }
  loop().catch((err: unknown) => {
    note(key, `failed ${err instanceof Error ? err.message : String(err)}`)
    if (!call.cancelled) call.end(toStatus(err, NOOP_LOGGER))
  })
}

let dir: string
let path: string
let server: GrpcServer
let session: ClientHttp2Session

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'grpc-server-'))
  path = join(dir, 'plugin.sock')
  server = new GrpcServer({ maxMessageBytes: MAX_BYTES })
  server.addService(SERVICE.health, healthService())
  server.addService(SERVICE.serverNodeAttestor, { Attest: echoHandler })
  server.addService(SERVICE.config, {
    Configure: unaryHandler(
      (request: ConfigureRequest) => {
        if (request.hcl_configuration === 'throw') throw new Error('boom')
        return {}
      },
      (err) => toStatus(err, NOOP_LOGGER),
    ),
    Validate: () => {
      throw new Error('thrown synchronously')
    },
  })
  await server.listen(path)
  session = connect('http://localhost', { createConnection: () => netConnect(path) })
  session.on('error', () => {})
})

after(() => {
  session.close()
  server.forceShutdown()
  rmSync(dir, { recursive: true, force: true })
})

const frame = (body: Buffer, flag = 0): Buffer => {
  const prefix = Buffer.alloc(5)
  prefix[0] = flag
  prefix.writeUInt32BE(body.length, 1)
  return Buffer.concat([prefix, body])
}
const attestFrame = (text: string): Buffer =>
  frame(encodeMessage(SERVER_ATTEST_REQUEST, { payload: Buffer.from(text) }))

interface RawAnswer {
  headers: IncomingHttpHeaders
  trailers: IncomingHttpHeaders
  messages: string[]
  rstCode: number | undefined
}

/** One raw HTTP/2 call: `send` writes the request body; the answer is read to the stream's close. */
function raw(
  headers: Record<string, string>,
  send: (stream: ReturnType<ClientHttp2Session['request']>) => void,
): Promise<RawAnswer> {
  const stream = session.request({
    ':method': 'POST',
    ':path': ATTEST,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...headers,
  })
  const answer: RawAnswer = { headers: {}, trailers: {}, messages: [], rstCode: undefined }
  let data = Buffer.alloc(0)
  stream.on('response', (h) => (answer.headers = h))
  stream.on('trailers', (h) => (answer.trailers = h))
  stream.on('data', (chunk: Buffer) => (data = Buffer.concat([data, chunk])))
  stream.on('error', () => {})
  send(stream)
  return new Promise((resolve) =>
    stream.on('close', () => {
      for (let pos = 0; pos + 5 <= data.length;) {
        const length = data.readUInt32BE(pos + 1)
        const msg = decodeMessage(SERVER_ATTEST_RESPONSE, data.subarray(pos + 5, pos + 5 + length))
        answer.messages.push(Buffer.from((msg.challenge as Buffer | undefined) ?? []).toString())
        pos += 5 + length
      }
      answer.rstCode = stream.rstCode
      resolve(answer)
    }),
  )
}

const statusOf = (a: RawAnswer): string | undefined =>
  (a.trailers['grpc-status'] ?? a.headers['grpc-status']) as string | undefined

describe('the plugin gRPC server through grpc-js (a real gRPC client)', () => {
  const client = (): Client => new Client(`unix://${path}`, credentials.createInsecure())

  test('unary: Health answers SERVING for go-plugin, NotFound for another service', async () => {
    const c = client()
    try {
      const check = serviceDefinition(SERVICE.health).Check!
      const ask = (service: string): Promise<unknown> =>
        new Promise((resolve, reject) =>
          c.makeUnaryRequest(
            check.path,
            check.requestSerialize,
            check.responseDeserialize,
            { service },
            (err, res) => (err ? reject(err) : resolve(res)),
          ),
        )
      assert.deepEqual(await ask('plugin'), { status: 'SERVING' })
      await assert.rejects(ask('other'), { code: GrpcStatus.NOT_FOUND, details: 'unknown service' })
    } finally {
      c.close()
    }
  })

  test('bidi: messages both ways, a status with % and non-ASCII arrives exactly', async () => {
    const c = client()
    try {
      const def = serviceDefinition(SERVICE.serverNodeAttestor).Attest!
      const stream = c.makeBidiStreamRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        new Metadata(),
      )
      const got: string[] = []
      const status = new Promise<ServiceError>((resolve) => stream.on('error', resolve))
      stream.on('data', (m: ServerAttestResponse) => {
        got.push(Buffer.from(m.challenge ?? []).toString())
        if (got.length === 1) stream.write({ challenge_response: Buffer.from('fail') })
      })
      stream.write({ payload: Buffer.from('bidi') })
      const err = await status
      assert.deepEqual(got, ['echo bidi'])
      assert.equal(err.code, GrpcStatus.PERMISSION_DENIED)
      assert.equal(err.details, 'no % naïve\nway')
    } finally {
      c.close()
    }
  })

  test('an unknown method is Unimplemented; a handler that throws is Internal', async () => {
    const c = client()
    try {
      const unary = (method: string): Promise<unknown> =>
        new Promise((resolve, reject) =>
          c.makeUnaryRequest(
            method,
            (v: Buffer) => v,
            (b: Buffer) => b,
            Buffer.alloc(0),
            (err, res) => (err ? reject(err) : resolve(res)),
          ),
        )
      await assert.rejects(unary('/plugin.Nope/Nothing'), {
        code: GrpcStatus.UNIMPLEMENTED,
        details: 'unknown method /plugin.Nope/Nothing',
      })
      await assert.rejects(unary(`/${SERVICE.config}/Validate`), {
        code: GrpcStatus.INTERNAL,
        details: 'internal error: Error: thrown synchronously',
      })
    } finally {
      c.close()
    }
  })
})

describe('the plugin gRPC server on raw HTTP/2', () => {
  test('a message split over many DATA frames, and two messages in one, are read exactly', async () => {
    const answer = await raw({}, (stream) => {
      const first = attestFrame('split')
      for (const byte of first) stream.write(Buffer.from([byte]))
      stream.write(Buffer.concat([attestFrame('two'), attestFrame('three')]))
      stream.end()
    })
    assert.deepEqual(answer.messages, ['echo split', 'echo two', 'echo three'])
    assert.equal(statusOf(answer), '0')
    assert.deepEqual(seen.get('split'), ['got split', 'got two', 'got three', 'half-closed'])
  })

  test('a compressed message (never negotiated) is Internal; an oversized one ResourceExhausted', async () => {
    const compressed = await raw({}, (s) => s.end(frame(Buffer.from('x'), 1)))
    assert.equal(statusOf(compressed), '13')
    assert.match(String(compressed.headers['grpc-message']), /compressed message/)
    const big = await raw({}, (s) => s.end(frame(Buffer.alloc(MAX_BYTES + 1))))
    assert.equal(statusOf(big), '8')
    assert.equal(
      big.headers['grpc-message'],
      `received message larger than max (${MAX_BYTES + 1} vs. ${MAX_BYTES})`,
    )
  })

  test('grpc-encoding other than identity is Unimplemented, trailers-only', async () => {
    const answer = await raw({ 'grpc-encoding': 'gzip' }, (s) => s.end(attestFrame('gz')))
    assert.equal(answer.headers[':status'], 200)
    assert.equal(answer.headers['grpc-status'], '12')
    assert.equal(answer.headers['grpc-accept-encoding'], 'identity')
    assert.equal(seen.get('gz'), undefined, 'the handler never ran')
  })

  test('grpc-timeout: the call ends DeadlineExceeded and the handler is cancelled', async () => {
    const answer = await raw({ 'grpc-timeout': '1m' }, (s) => s.write(attestFrame('hang')))
    assert.equal(statusOf(answer), '4')
    assert.deepEqual(seen.get('hang'), ['got hang', 'cancelled', 'failed deadline exceeded'])
  })

  test('a host reset (RST_STREAM alone, as grpc-go sends it) cancels the handler: its read rejects, no status is sent', async () => {
    const answer = await raw({}, (s) => {
      s.write(attestFrame('reset-me'))
      s.once('data', () => resetOnly(s, 8))
    })
    assert.deepEqual(answer.messages, ['echo reset-me'])
    assert.equal(answer.trailers['grpc-status'], undefined)
    for (let i = 0; i < 100 && (seen.get('reset-me') ?? []).length < 3; i++) {
      await new Promise((r) => setImmediate(r))
    }
    assert.deepEqual(seen.get('reset-me'), [
      'got reset-me',
      'cancelled',
      'failed stream cancelled by host',
    ])
  })

  test('not POST is 405, not application/grpc is 415, and the connection serves on', async () => {
    const get = await raw({ ':method': 'GET' }, (s) => s.end())
    assert.equal(get.headers[':status'], 405)
    const text = await raw({ 'content-type': 'text/plain' }, (s) => s.end())
    assert.equal(text.headers[':status'], 415)
    const ok = await raw({}, (s) => s.end(attestFrame('after')))
    assert.deepEqual(ok.messages, ['echo after'])
  })

  test('a unary method answers once and ends OK; a thrown error ends it with its status', async () => {
    const configure = (hcl: string): Promise<RawAnswer> =>
      raw({ ':path': CONFIGURE }, (s) =>
        s.end(frame(encodeMessage(CONFIGURE_REQUEST, { hcl_configuration: hcl }))),
      )
    const ok = await configure('x = 1')
    assert.equal(statusOf(ok), '0')
    const failed = await configure('throw')
    assert.equal(statusOf(failed), '13')
    assert.equal(failed.headers['grpc-message'], 'internal error: boom')
    // a request that does not decode (a string where a message belongs) is Internal too
    const garbled = await raw({ ':path': CONFIGURE }, (s) =>
      s.end(frame(Buffer.from([0x0a, 0x03, 0xff, 0xff, 0xff]))),
    )
    assert.equal(statusOf(garbled), '13')
    assert.match(String(garbled.headers['grpc-message']), /^cannot decode the request: /)
  })
})

test('forceShutdown cancels the calls still open', async () => {
  const d = mkdtempSync(join(tmpdir(), 'grpc-server-'))
  const s = new GrpcServer({ maxMessageBytes: MAX_BYTES })
  s.addService(SERVICE.serverNodeAttestor, { Attest: echoHandler })
  try {
    const p = join(d, 'plugin.sock')
    await s.listen(p)
    const h = connect('http://localhost', { createConnection: () => netConnect(p) })
    h.on('error', () => {})
    const stream = h.request({
      ':method': 'POST',
      ':path': ATTEST,
      'content-type': 'application/grpc',
    })
    stream.on('error', () => {})
    stream.write(attestFrame('open-at-shutdown'))
    await new Promise((resolve) => stream.once('data', resolve))
    s.forceShutdown()
    await new Promise((resolve) => stream.on('close', resolve))
    assert.deepEqual(seen.get('open-at-shutdown'), [
      'got open-at-shutdown',
      'cancelled',
      'failed plugin shutting down',
    ])
    h.destroy()
  } finally {
    s.forceShutdown()
    rmSync(d, { recursive: true, force: true })
  }
})
