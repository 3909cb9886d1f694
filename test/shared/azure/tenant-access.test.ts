// One tenant-access module for both attestors and both sides: one rule per test, each the same for
// azure_msi and azure_imds (their copies had drifted: only azure_imds refused user:password@).
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { buildConfig as buildImdsServer } from '../../../server-plugin/azure-imds/config.js'
import { buildConfig as buildMsiServer } from '../../../server-plugin/azure-msi/config.js'
import { CLOUDS } from '../../../shared/azure/clouds.js'
import {
  buildImdsEndpoint,
  clientKey,
  cloudOrReport,
  createFileLoader,
  endpointOverrides,
  endpointUrl,
  prepareTrust,
  resolveEndpoints,
  withCaFile,
  type HttpPolicy,
} from '../../../shared/azure/tenant-access.js'
import { PluginError, Report } from '../../../shared/plugin/index.js'

const TENANT = '0a1b2c3d-1111-2222-3333-444455556666'
const core = { trustDomain: 'example.org' }
const collect = () => {
  const errors: string[] = []
  return { errors, error: (m: string) => errors.push(m) }
}

/** Both server attestors with the same `endpoints { … }` block: their config errors. */
function bothServers(endpoints: string): { msi: string[]; imds: string[] } {
  const msi = new Report()
  buildMsiServer(`tenants = { "${TENANT}" = {} }\nendpoints { ${endpoints} }`, core, msi)
  const imds = new Report()
  buildImdsServer(
    `tenants = { "contoso.onmicrosoft.com" = { tenant_id = "${TENANT}" } }\nendpoints = { ${endpoints} }`,
    core,
    imds,
  )
  return { msi: msi.errors, imds: imds.errors }
}

describe('endpoint URLs: one rule for every setting', () => {
  const cases: { value: string; http: HttpPolicy; ok: string | undefined; error?: RegExp }[] = [
    { value: 'https://login.example.com/', http: 'never', ok: 'https://login.example.com' },
    { value: 'http://login.example.com', http: 'never', ok: undefined, error: /must use https$/ },
    { value: 'http://127.0.0.1:8443', http: 'loopback', ok: 'http://127.0.0.1:8443' },
    {
      value: 'http://login.example.com',
      http: 'loopback',
      ok: undefined,
      error: /must use https$/,
    },
    { value: 'http://169.254.169.254', http: 'always', ok: 'http://169.254.169.254' },
    { value: 'ftp://x', http: 'always', ok: undefined, error: /must use https$/ },
    { value: 'not a url', http: 'always', ok: undefined, error: /is not a URL$/ },
    {
      value: 'https://user:pw@login.example.com',
      http: 'never',
      ok: undefined,
      error: /must not carry credentials \(user:password@\)$/,
    },
    {
      value: 'https://x?y=1',
      http: 'never',
      ok: undefined,
      error: /must not have a query or fragment$/,
    },
    {
      value: 'https://x/#f',
      http: 'never',
      ok: undefined,
      error: /must not have a query or fragment$/,
    },
  ]
  for (const c of cases) {
    test(`${c.value} (${c.http})`, () => {
      const p = collect()
      assert.equal(endpointUrl(c.value, 'k', c.http, p), c.ok)
      if (c.error === undefined) assert.deepEqual(p.errors, [])
      else assert.match(p.errors[0] ?? '', c.error)
    })
  }

  test('azure_msi and azure_imds both refuse credentials in an endpoint URL (the drift)', () => {
    const { msi, imds } = bothServers('authority_host = "https://u:p@127.0.0.1:1"')
    const expected =
      'endpoints.authority_host "https://u:p@127.0.0.1:1" must not carry credentials (user:password@)'
    assert.ok(msi.includes(expected), msi.join('; '))
    assert.ok(imds.includes(expected), imds.join('; '))
  })

  test('both attestors: resource_manager must be https even on loopback', () => {
    const { msi, imds } = bothServers('resource_manager = "http://127.0.0.1:1"')
    const expected = 'endpoints.resource_manager "http://127.0.0.1:1" must use https'
    assert.ok(msi.includes(expected))
    assert.ok(imds.includes(expected))
  })

  test('overrides resolve against the cloud; unset keys keep the cloud’s endpoints', () => {
    const p = collect()
    const o = endpointOverrides({ resource_manager: 'https://arm.local/' }, p)
    assert.deepEqual(resolveEndpoints(CLOUDS.AzureUSGovernmentCloud, o), {
      authorityHost: CLOUDS.AzureUSGovernmentCloud.authorityHost,
      armEndpoint: 'https://arm.local',
      caFile: undefined,
    })
  })

  test('an agent’s imds_endpoint follows the same rules, with its own message for scheme and query', () => {
    const p = collect()
    assert.equal(buildImdsEndpoint('http://127.0.0.1:9/', p), 'http://127.0.0.1:9')
    buildImdsEndpoint('ftp://x', p)
    buildImdsEndpoint('http://u:p@127.0.0.1:9', p)
    assert.deepEqual(p.errors, [
      'imds_endpoint "ftp://x" must be an http(s) URL without query',
      'imds_endpoint "http://u:p@127.0.0.1:9" must not carry credentials (user:password@)',
    ])
  })
})

describe('clouds and credentials', () => {
  test('an unknown cloud names the valid ones', () => {
    const p = collect()
    assert.equal(cloudOrReport('Mars', 'cloud_environment', p), undefined)
    assert.deepEqual(p.errors, [
      'cloud_environment "Mars" is not a known Azure cloud; accepted names (any case): AzurePublicCloud (or public, AzureCloud, AzurePublic); AzureUSGovernmentCloud (or usgovernment, usgov, AzureUSGovernment, AzureGovernment); AzureChinaCloud (or china, AzureChina)',
    ])
  })

  test('the client key separates credentials and never holds the secret', () => {
    const e = resolveEndpoints(CLOUDS.AzurePublicCloud, endpointOverrides({}, collect()))
    const a = clientKey(TENANT, CLOUDS.AzurePublicCloud, e, {
      kind: 'client-secret',
      appId: 'app',
      appSecret: 'hunter2',
    })
    const b = clientKey(TENANT, CLOUDS.AzurePublicCloud, e, {
      kind: 'client-secret',
      appId: 'app',
      appSecret: 'other',
    })
    assert.notEqual(a, b)
    assert.ok(!a.includes('hunter2'))
    assert.notEqual(clientKey(TENANT, CLOUDS.AzurePublicCloud, e, { kind: 'default' }), a)
  })
})

describe('CA files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tenant-access-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('a CA file is read once and trusted for every request through withCaFile', async () => {
    const ca = join(dir, 'ca.pem')
    writeFileSync(ca, 'PEM-1')
    const files = createFileLoader(() => 0)
    const seen: (readonly string[] | undefined)[] = []
    const http = withCaFile(
      async (req) => {
        seen.push(req.extraCa)
        return { status: 200, headers: {}, body: Buffer.alloc(0) }
      },
      ca,
      files,
    )
    await http({ url: 'https://x', timeoutMs: 1, maxBytes: 1 })
    writeFileSync(ca, 'PEM-2')
    await http({ url: 'https://x', timeoutMs: 1, maxBytes: 1 })
    assert.deepEqual(seen, [['PEM-1'], ['PEM-1']])
  })

  test('an unreadable CA file is Internal "ca_file_unreadable", and is retried next time', async () => {
    const files = createFileLoader(() => 0)
    const missing = join(dir, 'later.pem')
    await assert.rejects(files.readCa(missing), (err: unknown) => {
      assert.ok(err instanceof PluginError)
      assert.equal(err.status, 'Internal')
      assert.equal(err.reason, 'ca_file_unreadable')
      return true
    })
    writeFileSync(missing, 'PEM')
    assert.equal(await files.readCa(missing), 'PEM')
  })

  test('prepareTrust hands the CA file to the transport ahead of any request, as withCaFile would', async () => {
    const ca = join(dir, 'warm.pem')
    writeFileSync(ca, 'PEM-W')
    const files = createFileLoader(() => 0)
    const prepared: (readonly string[] | undefined)[] = []
    let requests = 0
    const http = Object.assign(
      async () => {
        requests++
        return { status: 200, headers: {}, body: Buffer.alloc(0) }
      },
      { prepare: (extraCa?: readonly string[]) => void prepared.push(extraCa) },
    )
    await prepareTrust(http, ca, files)
    await prepareTrust(http, undefined, files)
    // an unreadable file and a transport without `prepare` are left to the first request
    await prepareTrust(http, join(dir, 'absent.pem'), files)
    await prepareTrust(async () => ({ status: 200, headers: {}, body: Buffer.alloc(0) }), ca, files)
    assert.deepEqual(prepared, [['PEM-W'], undefined])
    assert.equal(requests, 0)
  })

  test('other files are re-read after their TTL on the injected clock', async () => {
    let now = 0
    const files = createFileLoader(() => now)
    const f = join(dir, 'bundle.pem')
    writeFileSync(f, 'A')
    assert.equal(await files.readText(f, 1_000), 'A')
    writeFileSync(f, 'B')
    now = 999
    assert.equal(await files.readText(f, 1_000), 'A')
    now = 1_000
    assert.equal(await files.readText(f, 1_000), 'B')
  })
})
