// Egress through a proxy, as SPIRE's Go clients allow (HTTPS_PROXY/HTTP_PROXY/NO_PROXY): the rule,
// then the transport through a real local CONNECT proxy. IMDS never goes through it.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, request, type Server } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { createNodeHttp, proxyFor } from '../../../shared/azure/http.js'
import { getImdsJson } from '../../../shared/azure/imds.js'
import { startEmulator, type Emulator } from '../../azure-emulator/index.js'

describe('which requests go through the proxy (Go httpproxy rules)', () => {
  const env = {
    HTTPS_PROXY: 'http://proxy.corp:3128',
    HTTP_PROXY: 'proxy.corp:8080',
    NO_PROXY: 'internal.corp,.vault.example,10.1.2.3,login.example:8443',
  }
  const via = (u: string, e: Record<string, string | undefined> = env) =>
    proxyFor(new URL(u), e)?.href
  test('https uses HTTPS_PROXY, http uses HTTP_PROXY (a bare host:port is http://)', () => {
    assert.equal(via('https://management.azure.com/x'), 'http://proxy.corp:3128/')
    assert.equal(via('http://www.microsoft.com/pkiops/certs/x.crt'), 'http://proxy.corp:8080/')
  })
  test('lower-case names work too; unset means direct', () => {
    assert.equal(via('https://a.example/', { https_proxy: 'http://p:1' }), 'http://p:1/')
    assert.equal(via('https://a.example/', {}), undefined)
  })
  test('NO_PROXY: exact host, domain suffix, IP, host:port, and *', () => {
    assert.equal(via('https://internal.corp/'), undefined)
    assert.equal(via('https://kv.vault.example/'), undefined)
    assert.equal(via('https://vault.example/'), undefined)
    assert.equal(via('https://10.1.2.3/'), undefined)
    assert.equal(via('https://login.example:8443/'), undefined)
    assert.equal(
      via('https://login.example/'),
      'http://proxy.corp:3128/',
      'another port is proxied',
    )
    assert.equal(via('https://x.example/', { ...env, NO_PROXY: '*' }), undefined)
  })
  test('loopback is never proxied', () => {
    assert.equal(via('https://127.0.0.1:8443/'), undefined)
    assert.equal(via('https://localhost/'), undefined)
    assert.equal(via('http://[::1]:80/'), undefined)
  })
})

/** A minimal forward proxy: CONNECT tunnels and absolute-URI GETs, recording what it was asked. */
let proxy: Server
let proxyUrl: URL
const asked: string[] = []
const sockets = new Set<Socket>()
/** CONNECT targets the proxy sends elsewhere (`host:port` → port on 127.0.0.1): only it knows. */
const proxyRoutes = new Map<string, number>()
let emu: Emulator

before(async () => {
  emu = await startEmulator()
  proxy = createServer((req, res) => {
    asked.push(`${req.method} ${req.url} ${req.headers['proxy-authorization'] ?? ''}`.trim())
    const target = new URL(req.url ?? '')
    const upstream = request(
      target,
      { method: req.method, headers: { ...req.headers, host: target.host } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers)
        up.pipe(res)
      },
    )
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  })
  proxy.on('connect', (req, client: Socket) => {
    asked.push(`CONNECT ${req.url} ${req.headers['proxy-authorization'] ?? ''}`.trim())
    const [host, port] = (req.url ?? '').split(':')
    const routed = proxyRoutes.get(req.url ?? '')
    const to: [number, string] =
      routed === undefined ? [Number(port), host!] : [routed, '127.0.0.1']
    const upstream = connect(...to, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.pipe(client)
      client.pipe(upstream)
    })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => undefined)
      s.on('close', () => sockets.delete(s))
    }
  })
  proxy.listen(0, '127.0.0.1')
  await once(proxy, 'listening')
  proxyUrl = new URL(`http://user:p%40ss@127.0.0.1:${(proxy.address() as AddressInfo).port}`)
})
after(async () => {
  for (const s of sockets) s.destroy()
  proxy.closeAllConnections()
  proxy.close()
  await emu.stop()
})

describe('through a real local proxy', () => {
  // the loopback exemption is the rule's; here every request is sent to the proxy on purpose
  const viaProxy = createNodeHttp({ proxyFor: () => proxyUrl })

  test('https (Entra ID discovery) through a CONNECT tunnel, TLS to the target inside it', async () => {
    asked.length = 0
    const url = `${emu.endpoints.entra}/common/.well-known/openid-configuration`
    const res = await viaProxy({
      url,
      timeoutMs: 10_000,
      maxBytes: 1 << 20,
      extraCa: [emu.endpoints.caCertPem],
    })
    assert.equal(res.status, 200)
    assert.ok(JSON.parse(res.body.toString()).jwks_uri)
    const target = new URL(url)
    assert.deepEqual(asked, [
      `CONNECT ${target.host} Basic ${Buffer.from('user:p@ss').toString('base64')}`,
    ])
  })

  test('the https request rides the tunnel: a target only the proxy can reach is reached', async () => {
    // a port nothing listens on: a direct connection is refused; the proxy routes it to ARM
    const closed = createServer()
    closed.listen(0, '127.0.0.1')
    await once(closed, 'listening')
    const deadPort = (closed.address() as AddressInfo).port
    closed.close()
    await once(closed, 'close')
    proxyRoutes.set(`localhost:${deadPort}`, Number(new URL(emu.endpoints.arm).port))
    asked.length = 0
    const url = `https://localhost:${deadPort}/subscriptions?api-version=2022-12-01`
    for (let i = 0; i < 2; i++) {
      const res = await viaProxy({
        url,
        timeoutMs: 10_000,
        maxBytes: 1 << 20,
        extraCa: [emu.endpoints.caCertPem],
      })
      // ARM answered (401 without a token): the request went through the CONNECT tunnel
      assert.equal(res.status, 401)
    }
    assert.equal(asked.filter((a) => a.startsWith(`CONNECT localhost:${deadPort}`)).length, 2)
  })

  test('inside the tunnel the certificate is checked against the target name, not the proxy', async () => {
    // the proxy routes a name the emulator's certificate does not carry to ARM: TLS must refuse it
    const armPort = Number(new URL(emu.endpoints.arm).port)
    proxyRoutes.set(`not-azure.invalid:${armPort}`, armPort)
    asked.length = 0
    await assert.rejects(
      viaProxy({
        url: `https://not-azure.invalid:${armPort}/subscriptions?api-version=2022-12-01`,
        timeoutMs: 10_000,
        maxBytes: 1 << 20,
        extraCa: [emu.endpoints.caCertPem],
      }),
      { code: 'network', message: /not-azure\.invalid|altnames/i },
    )
    assert.equal(asked.length, 1, 'the tunnel was opened; TLS inside it failed')
  })

  test('plain http (an AIA certificate fetch) as an absolute URI', async () => {
    asked.length = 0
    const url = `${emu.endpoints.issuers}/pkiops/certs/Fake%20TLS%20G2%20RSA%20CA%20OCSP%2002.crt`
    const res = await viaProxy({ url, timeoutMs: 10_000, maxBytes: 1 << 20 })
    assert.equal(res.status, 200)
    assert.equal(asked.length, 1)
    assert.match(asked[0]!, new RegExp(`^GET ${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} Basic `))
  })

  test('a proxy that refuses CONNECT is a network error naming the proxy’s answer', async () => {
    const refusing = createServer()
    refusing.on('connect', (_req, socket: Socket) => socket.end('HTTP/1.1 403 Forbidden\r\n\r\n'))
    refusing.listen(0, '127.0.0.1')
    await once(refusing, 'listening')
    try {
      const http = createNodeHttp({
        proxyFor: () => new URL(`http://127.0.0.1:${(refusing.address() as AddressInfo).port}`),
      })
      await assert.rejects(http({ url: emu.endpoints.arm, timeoutMs: 10_000, maxBytes: 1024 }), {
        code: 'network',
        message: /proxy refused CONNECT .*: 403/,
      })
    } finally {
      refusing.close()
    }
  })

  test('IMDS never goes through the proxy, whatever the rule says', async () => {
    asked.length = 0
    const res = await getImdsJson({
      http: viaProxy,
      url: `${emu.endpoints.imds}/metadata/instance?api-version=2021-12-13`,
      timeoutMs: 10_000,
      now: () => Date.now(),
    })
    assert.equal(res.status, 200)
    assert.deepEqual(asked, [])
  })
})
