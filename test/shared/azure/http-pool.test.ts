// Connection reuse of the node:http(s) transport, counted on loopback servers: TLS handshakes and
// new connections per trust set (the bundled roots, or those plus a CA file's content), the socket
// bound, timeouts while waiting for a pooled connection, and stale kept-alive connections.
import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { EventEmitter, once } from 'node:events'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { createNodeHttp, HttpError, trustSetId, type NodeHttp } from '../../../shared/azure/http.js'
import {
  EKU_SERVER_AUTH,
  issueCertificate,
  type IssuedCert,
} from '../../azure-emulator/cert-builder.js'

const DAY_MS = 86_400_000

interface Ca {
  cert: IssuedCert
  key: KeyObject
}

function makeCa(name: string): Ca {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const cert = issueCertificate({
    subject: [['CN', name]],
    publicKey,
    signingKey: privateKey,
    // TLS peers check wall-clock validity; this is not an assertion on time
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + DAY_MS),
    ca: {},
    keyUsage: ['keyCertSign', 'cRLSign', 'digitalSignature'],
  })
  return { cert, key: privateKey }
}

function makeLeaf(issuer: Ca): { certPem: string; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const cert = issueCertificate({
    subject: [['CN', 'localhost']],
    publicKey,
    issuer: issuer.cert,
    signingKey: issuer.key,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + DAY_MS),
    ca: false,
    keyUsage: ['digitalSignature'],
    extKeyUsage: [EKU_SERVER_AUTH],
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
  })
  return {
    certPem: cert.pem,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  }
}

/** What a server saw: TLS handshakes, TCP connections, requests. */
interface Seen {
  handshakes: number
  connections: number
  requests: number
}

/** Requests served per connection, to tell a reused connection from a new one. */
const served = new WeakMap<Socket, number>()
const pendingSlow: (() => void)[] = []
/** Emits 'slow' when a /slow request reaches a server. */
const arrivals = new EventEmitter()

function route(seen: Seen) {
  return (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    seen.requests++
    const socket = req.socket
    const n = served.get(socket) ?? 0
    served.set(socket, n + 1)
    switch (req.url) {
      case '/slow':
        // answered only when the test releases it
        pendingSlow.push(() => res.end('late'))
        arrivals.emit('slow')
        return
      case '/reset-if-reused':
        // as if the server's idle timeout closed the connection just as the request was sent
        if (n > 0) {
          socket.destroy()
          return
        }
        res.end('fresh')
        return
      case '/reset':
        socket.destroy()
        return
      default:
        res.end('ok')
    }
  }
}

let caA: Ca
let caA2: Ca
let caB: Ca
let tlsServer: HttpsServer
let plainServer: HttpServer
const tlsSeen: Seen = { handshakes: 0, connections: 0, requests: 0 }
const plainSeen: Seen = { handshakes: 0, connections: 0, requests: 0 }
let tlsBase = ''
let plainBase = ''
const clients: NodeHttp[] = []

/** A transport under test (closed after the file). */
function client(o: Parameters<typeof createNodeHttp>[0] = {}): NodeHttp {
  const c = createNodeHttp({ env: {}, ...o })
  clients.push(c)
  return c
}

const get = (http: NodeHttp, path: string, extraCa?: string[], timeoutMs = 10_000) =>
  http({
    url: `${tlsBase}${path}`,
    timeoutMs,
    maxBytes: 1024,
    ...(extraCa === undefined ? {} : { extraCa }),
  })

/** The counts since `before`. */
const delta = (before: Seen): Seen => ({
  handshakes: tlsSeen.handshakes - before.handshakes,
  connections: tlsSeen.connections - before.connections,
  requests: tlsSeen.requests - before.requests,
})

before(async () => {
  caA = makeCa('Trust Set A Root')
  caA2 = makeCa('Trust Set A Root 2')
  caB = makeCa('Unrelated Root')
  const leaf = makeLeaf(caA)
  tlsServer = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem }, route(tlsSeen))
  tlsServer.on('connection', () => tlsSeen.connections++)
  tlsServer.on('secureConnection', () => tlsSeen.handshakes++)
  tlsServer.listen(0, '127.0.0.1')
  await once(tlsServer, 'listening')
  tlsBase = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`
  plainServer = createHttpServer(route(plainSeen))
  plainServer.on('connection', () => plainSeen.connections++)
  plainServer.listen(0, '127.0.0.1')
  await once(plainServer, 'listening')
  plainBase = `http://127.0.0.1:${(plainServer.address() as AddressInfo).port}`
})

after(() => {
  for (const c of clients) c.close()
  for (const release of pendingSlow) release()
  tlsServer.closeAllConnections()
  tlsServer.close()
  plainServer.closeAllConnections()
  plainServer.close()
})

describe('trust sets', () => {
  test('named by content: none is "system"; equal content, equal set; any change, another', () => {
    const a = caA.cert.pem
    assert.equal(trustSetId(undefined), 'system')
    assert.equal(trustSetId([]), 'system')
    assert.equal(trustSetId([a]), trustSetId([`${a}`]))
    assert.match(trustSetId([a]), /^ca:[0-9a-f]{64}$/)
    assert.notEqual(trustSetId([a]), trustSetId([`${a}\n`]))
    assert.notEqual(trustSetId([a, caB.cert.pem]), trustSetId([caB.cert.pem, a]))
    // the boundary between two PEMs is part of the identity
    assert.notEqual(trustSetId(['ab', 'c']), trustSetId(['a', 'bc']))
  })
})

describe('kept-alive HTTPS, one pool per trust set', () => {
  test('N sequential requests over one trust set: one TLS handshake, one connection', async () => {
    const http = client()
    const start = { ...tlsSeen }
    for (let i = 0; i < 20; i++) {
      const res = await get(http, '/ok', [caA.cert.pem])
      assert.equal(res.status, 200)
    }
    assert.deepEqual(delta(start), { handshakes: 1, connections: 1, requests: 20 })
  })

  test('concurrent requests: no more handshakes than the socket bound, then all reused', async () => {
    const http = client({ maxSocketsPerHost: 4 })
    const start = { ...tlsSeen }
    const all = await Promise.all(
      Array.from({ length: 40 }, () => get(http, '/ok', [caA.cert.pem])),
    )
    assert.ok(all.every((r) => r.status === 200))
    const burst = delta(start)
    assert.ok(burst.handshakes >= 1 && burst.handshakes <= 4, JSON.stringify(burst))
    for (let i = 0; i < 20; i++) await get(http, '/ok', [caA.cert.pem])
    await Promise.all(Array.from({ length: 8 }, () => get(http, '/ok', [caA.cert.pem])))
    const total = delta(start)
    assert.equal(total.handshakes, burst.handshakes, 'no handshake after the burst')
    assert.equal(total.connections, burst.connections)
    assert.equal(total.requests, 68)
  })

  test('two trust sets do not share connections: one handshake each, however interleaved', async () => {
    const http = client()
    const start = { ...tlsSeen }
    const one = [caA.cert.pem]
    const two = [caA.cert.pem, caB.cert.pem]
    for (let i = 0; i < 10; i++) {
      assert.equal((await get(http, '/ok', one)).status, 200)
      assert.equal((await get(http, '/ok', two)).status, 200)
    }
    assert.deepEqual(delta(start), { handshakes: 2, connections: 2, requests: 20 })
  })

  test('a connection verified under one trust set is never lent to another', async () => {
    const http = client()
    // an idle connection verified under caA is in the pool
    assert.equal((await get(http, '/ok', [caA.cert.pem])).status, 200)
    const start = { ...tlsSeen }
    // neither caB alone nor the bundled roots vouch for this server
    for (const extraCa of [[caB.cert.pem], undefined]) {
      await assert.rejects(get(http, '/ok', extraCa), (err: unknown) => {
        assert.ok(err instanceof HttpError)
        assert.equal(err.code, 'network')
        assert.match(err.message, /certificate|issuer/i)
        return true
      })
    }
    assert.equal(delta(start).requests, 0, 'no request reached the server')
    assert.equal((await get(http, '/ok', [caA.cert.pem])).status, 200)
  })

  test('a rotated CA file (new content) gets a new TLS context, and only the new one is used', async () => {
    const http = client()
    const start = { ...tlsSeen }
    await get(http, '/ok', [caA.cert.pem])
    await get(http, '/ok', [caA.cert.pem])
    assert.equal(delta(start).handshakes, 1)
    // the file now holds the next root too: a new trust set, a new handshake under it
    const rotated = [`${caA2.cert.pem}${caA.cert.pem}`]
    assert.equal((await get(http, '/ok', rotated)).status, 200)
    assert.equal((await get(http, '/ok', rotated)).status, 200)
    assert.equal(delta(start).handshakes, 2)
    // then only the next root: the server's certificate no longer verifies — the pooled
    // connections verified under the older contents are not reused for it
    await assert.rejects(get(http, '/ok', [caA2.cert.pem]), { code: 'network' })
    assert.equal(delta(start).requests, 4)
  })

  test('prepare builds a trust set without a connection; a bad CA is left to the first request to report', async () => {
    const http = client()
    const start = { ...tlsSeen }
    http.prepare([caA.cert.pem])
    http.prepare()
    http.prepare(['-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n'])
    assert.deepEqual(delta(start), { handshakes: 0, connections: 0, requests: 0 })
    assert.equal((await get(http, '/ok', [caA.cert.pem])).status, 200)
    assert.equal((await get(http, '/ok', [caA.cert.pem])).status, 200)
    assert.deepEqual(delta(start), { handshakes: 1, connections: 1, requests: 2 })
    await assert.rejects(
      get(http, '/ok', [
        '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n',
      ]),
    )
  })

  test('a pool keeps at most maxTrustSets trust sets; one let go is rebuilt on use', async () => {
    const http = client({ maxTrustSets: 1 })
    const start = { ...tlsSeen }
    await get(http, '/ok', [caA.cert.pem])
    await get(http, '/ok', [caA.cert.pem, caB.cert.pem])
    await get(http, '/ok', [caA.cert.pem])
    assert.deepEqual(delta(start), { handshakes: 3, connections: 3, requests: 3 })
  })

  test('a request waiting for a pooled connection still times out', async () => {
    const http = client({ maxSocketsPerHost: 1 })
    const ac = new AbortController()
    const arrived = once(arrivals, 'slow')
    const busy = http({
      url: `${tlsBase}/slow`,
      timeoutMs: 60_000,
      maxBytes: 1024,
      extraCa: [caA.cert.pem],
      signal: ac.signal,
    })
    await arrived
    const start = { ...tlsSeen }
    await assert.rejects(get(http, '/ok', [caA.cert.pem], 100), { code: 'timeout' })
    assert.equal(delta(start).requests, 0, 'it never got the connection')
    ac.abort()
    await assert.rejects(busy, { code: 'aborted' })
    assert.equal((await get(http, '/ok', [caA.cert.pem])).status, 200, 'the pool recovers')
  })

  test('a kept-alive connection the server closed is retried once on a new connection', async () => {
    const http = client()
    const start = { ...tlsSeen }
    assert.equal((await get(http, '/ok', [caA.cert.pem])).status, 200)
    const res = await get(http, '/reset-if-reused', [caA.cert.pem])
    assert.equal(res.body.toString(), 'fresh')
    assert.deepEqual(delta(start), { handshakes: 2, connections: 2, requests: 3 })
  })

  test('a reset on a new connection is not retried', async () => {
    const http = client()
    const start = { ...tlsSeen }
    await assert.rejects(get(http, '/reset', [caA.cert.pem]), { code: 'network' })
    assert.equal(delta(start).requests, 1)
  })
})

describe('kept-alive plain http (IMDS, AIA)', () => {
  test('sequential direct requests share one connection', async () => {
    const http = client()
    const start = plainSeen.connections
    for (let i = 0; i < 10; i++) {
      const res = await http({
        url: `${plainBase}/ok`,
        timeoutMs: 10_000,
        maxBytes: 1024,
        direct: true,
      })
      assert.equal(res.status, 200)
    }
    assert.equal(plainSeen.connections - start, 1)
  })

  test('close() lets every pooled connection go; the transport still works after', async () => {
    const http = createNodeHttp({ env: {} })
    const sockets: Socket[] = []
    const grab = (s: Socket) => sockets.push(s)
    plainServer.once('connection', grab)
    tlsServer.once('connection', grab)
    await http({ url: `${plainBase}/ok`, timeoutMs: 10_000, maxBytes: 1024 })
    await http({ url: `${tlsBase}/ok`, timeoutMs: 10_000, maxBytes: 1024, extraCa: [caA.cert.pem] })
    assert.equal(sockets.length, 2)
    const closed = Promise.all(sockets.map((s) => once(s, 'close')))
    http.close()
    await closed
    const res = await http({ url: `${plainBase}/ok`, timeoutMs: 10_000, maxBytes: 1024 })
    assert.equal(res.status, 200)
    http.close()
  })
})
