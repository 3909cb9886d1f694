import assert from 'node:assert/strict'
import { EventEmitter, once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import {
  bodySnippet,
  HttpError,
  isLoopbackHost,
  nodeHttp,
  parseRetryAfter,
  retryAfterMs,
} from '../../../shared/azure/http.js'

let server: Server
let base = ''
/** Emits 'abandoned' (path) when the client drops a connection the server had not finished answering. */
const serverEvents = new EventEmitter()

before(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    switch (url.pathname) {
      case '/ok':
        res.writeHead(200, { 'content-type': 'application/json', 'x-two': ['a', 'b'] })
        res.end(JSON.stringify({ method: req.method, metadata: req.headers['metadata'] ?? null }))
        return
      case '/redirect':
        res.writeHead(302, { location: '/ok' })
        res.end()
        return
      case '/big':
        res.writeHead(200)
        res.end('x'.repeat(4096))
        return
      case '/big-chunked':
        res.writeHead(200)
        for (let i = 0; i < 8; i++) res.write('y'.repeat(1024))
        res.end()
        return
      case '/slow':
        // never answers: only the client's timeout (or abort) can end this exchange
        res.on('close', () => serverEvents.emit('abandoned', '/slow'))
        return
      case '/drip': {
        // answers at once, then sends one byte of the body at a time and never finishes
        res.writeHead(200, { 'content-type': 'text/plain' })
        const drip = setInterval(() => res.write('.'), 10)
        res.on('close', () => {
          clearInterval(drip)
          serverEvents.emit('abandoned', '/drip')
        })
        return
      }
      case '/post':
        {
          let body = ''
          req.on('data', (c: Buffer) => (body += c.toString()))
          req.on('end', () => res.end(body))
        }
        return
      default:
        res.writeHead(404)
        res.end('nope')
    }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

after(() => {
  server.closeAllConnections()
  server.close()
})

describe('nodeHttp', () => {
  test('GET returns status, lower-case headers (repeats joined) and the body', async () => {
    const res = await nodeHttp({
      url: `${base}/ok`,
      headers: { Metadata: 'true' },
      timeoutMs: 2_000,
      maxBytes: 1024,
    })
    assert.equal(res.status, 200)
    assert.equal(res.headers['x-two'], 'a, b')
    assert.deepEqual(JSON.parse(res.body.toString()), { method: 'GET', metadata: 'true' })
  })

  test('POST sends the body', async () => {
    const res = await nodeHttp({
      url: `${base}/post`,
      method: 'POST',
      body: 'hello',
      timeoutMs: 2_000,
      maxBytes: 1024,
    })
    assert.equal(res.body.toString(), 'hello')
  })

  test('redirects are not followed (fetch redirect: manual)', async () => {
    const res = await nodeHttp({ url: `${base}/redirect`, timeoutMs: 2_000, maxBytes: 1024 })
    assert.equal(res.status, 302)
    assert.equal(res.headers['location'], '/ok')
  })

  test('a body over the cap fails, declared or streamed', async () => {
    for (const path of ['/big', '/big-chunked']) {
      await assert.rejects(
        nodeHttp({ url: `${base}${path}`, timeoutMs: 2_000, maxBytes: 1024 }),
        (err: unknown) => {
          assert.ok(err instanceof HttpError)
          assert.equal(err.code, 'body-too-large')
          return true
        },
      )
    }
  })

  test('the timeout covers the whole exchange: no answer, or a body that never ends', async () => {
    // Neither server path ever finishes, so a rejection at all proves the timeout fired; the server
    // then sees the client drop the connection (nothing here depends on how fast the machine is).
    for (const path of ['/slow', '/drip']) {
      const dropped = once(serverEvents, 'abandoned')
      await assert.rejects(
        nodeHttp({ url: `${base}${path}`, timeoutMs: 150, maxBytes: 1 << 20 }),
        (err: unknown) => {
          assert.ok(err instanceof HttpError)
          assert.equal(err.code, 'timeout')
          return true
        },
      )
      assert.deepEqual(await dropped, [path])
    }
  })

  test('an aborted caller signal is "aborted", not a timeout', async () => {
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 50)
    await assert.rejects(
      nodeHttp({ url: `${base}/slow`, timeoutMs: 5_000, maxBytes: 1024, signal: ac.signal }),
      { code: 'aborted' },
    )
  })

  test('connection refused is a network error; bad URLs and schemes are refused', async () => {
    await assert.rejects(nodeHttp({ url: 'http://127.0.0.1:1/', timeoutMs: 2_000, maxBytes: 1 }), {
      code: 'network',
    })
    await assert.rejects(nodeHttp({ url: 'not a url', timeoutMs: 2_000, maxBytes: 1 }), {
      code: 'bad-url',
    })
    await assert.rejects(nodeHttp({ url: 'file:///etc/passwd', timeoutMs: 2_000, maxBytes: 1 }), {
      code: 'bad-url',
    })
  })
})

describe('Retry-After and helpers', () => {
  const now = new Date('2026-01-01T00:00:00Z')
  test('delta seconds and HTTP dates', () => {
    assert.equal(parseRetryAfter('7', now), 7000)
    assert.equal(parseRetryAfter(' 0 ', now), 0)
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30_000)
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now), 0)
    assert.equal(parseRetryAfter(undefined, now), undefined)
    assert.equal(parseRetryAfter('-1', now), undefined)
    assert.equal(parseRetryAfter('soon', now), undefined)
    assert.equal(parseRetryAfter('1.5', now), undefined)
  })

  test('retry-after-ms and x-ms-retry-after-ms win over Retry-After', () => {
    assert.equal(retryAfterMs({ 'retry-after': '9', 'x-ms-retry-after-ms': '250' }, now), 250)
    assert.equal(retryAfterMs({ 'retry-after-ms': '100' }, now), 100)
    assert.equal(retryAfterMs({ 'retry-after': '2' }, now), 2000)
    assert.equal(retryAfterMs({}, now), undefined)
  })

  test('bodySnippet keeps the first KiB, like upstream tryRead', () => {
    assert.equal(bodySnippet(Buffer.from('a'.repeat(2000))).length, 1024)
  })

  test('loopback hosts', () => {
    for (const h of ['localhost', '127.0.0.1', '127.1.2.3', '[::1]', '::1'])
      assert.ok(isLoopbackHost(h), h)
    for (const h of ['169.254.169.254', 'login.microsoftonline.com', '128.0.0.1'])
      assert.ok(!isLoopbackHost(h), h)
  })
})
