import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { constants, createServer, type Http2Server, type ServerHttp2Stream } from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { createHostConnection, HostCallError } from '../../../shared/plugin/host-connection.js'
import { Code } from '../../../shared/plugin/wire/grpc-framing.js'

/**
 * The runtime's host-service client (shared/plugin/host-connection.ts) against raw HTTP/2 servers
 * that misbehave the ways a host can: never answering, refusing a stream with GOAWAY, dropping the
 * connection between calls, not listening at all. host-services.test.ts covers it against grpc-js.
 */

const GET_AGENT_INFO = 'spire.hostservice.server.agentstore.v1.AgentStore/GetAgentInfo'

/** A raw host on a fresh socket; `onStream` decides each stream's fate. */
async function rawHost(
  t: TestContext,
  onStream: (stream: ServerHttp2Stream, sessionNo: number) => void,
): Promise<{ path: string; sessions: () => number; closed: () => number; server: Http2Server }> {
  const dir = mkdtempSync(join(tmpdir(), 'host-connection-'))
  const path = join(dir, 'host.sock')
  let sessions = 0
  let closed = 0
  const server = createServer()
  server.on('session', (s) => {
    sessions++
    const no = sessions
    s.on('close', () => closed++)
    s.on('error', () => {})
    s.on('stream', (stream) => {
      stream.on('error', () => {})
      // read the request to its end, then decide
      stream.resume()
      stream.on('end', () => onStream(stream, no))
    })
  })
  await new Promise<void>((resolve) => server.listen(path, resolve))
  t.after(() => {
    server.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { path, sessions: () => sessions, closed: () => closed, server }
}

const notFound = (stream: ServerHttp2Stream): void =>
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(Code.NOT_FOUND),
      'grpc-message': 'no%20such agent',
    },
    { endStream: true },
  )

test('NotFound trailers-only: a status, not an error, through invoke; a HostCallError through call', async (t) => {
  const host = await rawHost(t, notFound)
  const conn = createHostConnection(host.path)
  t.after(() => conn.close())
  const answer = await conn.invoke(GET_AGENT_INFO, { agent_id: 'a' }, undefined)
  assert.deepEqual(answer, { status: { code: Code.NOT_FOUND, details: 'no such agent' } })
  await assert.rejects(conn.call(GET_AGENT_INFO, { agent_id: 'a' }, undefined), (err) => {
    assert.ok(err instanceof HostCallError)
    assert.equal(err.code, Code.NOT_FOUND)
    return true
  })
  assert.equal(host.sessions(), 1, 'one connection for both calls')
})

test('a host that never answers: DeadlineExceeded at the deadline, and the stream is reset', async (t) => {
  let reset = 0
  const host = await rawHost(t, (stream) => stream.on('close', () => reset++))
  const conn = createHostConnection(host.path, { timeoutMs: 200 })
  t.after(() => conn.close())
  const answer = await conn.invoke(GET_AGENT_INFO, { agent_id: 'a' }, undefined)
  assert.deepEqual(answer.status, { code: Code.DEADLINE_EXCEEDED, details: 'deadline exceeded' })
  for (let i = 0; i < 200 && reset === 0; i++) await new Promise((r) => setTimeout(r, 5))
  assert.equal(reset, 1)
})

test('a stream the host refused unprocessed (REFUSED_STREAM) is retried once on a new connection', async (t) => {
  const host = await rawHost(t, (stream, sessionNo) => {
    // the first connection refuses the stream and goes away; later ones answer
    if (sessionNo === 1) {
      const session = stream.session
      stream.close(constants.NGHTTP2_REFUSED_STREAM)
      session?.close()
    } else notFound(stream)
  })
  const conn = createHostConnection(host.path)
  t.after(() => conn.close())
  const answer = await conn.invoke(GET_AGENT_INFO, { agent_id: 'a' }, undefined)
  assert.equal(answer.status.code, Code.NOT_FOUND)
  assert.equal(host.sessions(), 2)
})

test('a stream refused twice is Unavailable: one retry, not more', async (t) => {
  const host = await rawHost(t, (stream) => stream.close(constants.NGHTTP2_REFUSED_STREAM))
  const conn = createHostConnection(host.path)
  t.after(() => conn.close())
  const answer = await conn.invoke(GET_AGENT_INFO, { agent_id: 'a' }, undefined)
  assert.deepEqual(answer.status, { code: Code.UNAVAILABLE, details: 'stream refused' })
})

test('a connection the host dropped between calls is replaced on the next call', async (t) => {
  const host = await rawHost(t, (stream) => {
    const session = stream.session
    notFound(stream)
    // after answering, the host closes the connection
    setImmediate(() => session?.close())
  })
  const conn = createHostConnection(host.path)
  t.after(() => conn.close())
  for (let i = 1; i <= 3; i++) {
    assert.equal((await conn.invoke(GET_AGENT_INFO, { agent_id: 'a' }, undefined)).status.code, 5)
    // the host has closed connection i before the next call is made
    while (host.closed() < i) await new Promise((r) => setTimeout(r, 5))
  }
  assert.equal(host.sessions(), 3, 'each call on a new connection')
})

test('no host listening: Unavailable, after one retry; a closed connection answers Unavailable', async () => {
  const conn = createHostConnection(join(tmpdir(), `no-such-host-${process.pid}.sock`))
  const answer = await conn.invoke(GET_AGENT_INFO, { agent_id: 'a' }, undefined)
  assert.equal(answer.status.code, Code.UNAVAILABLE)
  conn.close()
  assert.deepEqual(await conn.invoke(GET_AGENT_INFO, { agent_id: 'a' }, undefined), {
    status: { code: Code.UNAVAILABLE, details: 'host connection closed' },
  })
})
