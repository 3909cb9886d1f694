import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  ALL_METADATA_DOMAINS,
  armScope,
  cloudOfMetadataHost,
  CLOUDS,
  findCloud,
} from '../../../shared/azure/clouds.js'
import type { HttpFetch, HttpResponse } from '../../../shared/azure/http.js'
import { HttpError } from '../../../shared/azure/http.js'
import {
  fetchInstanceCompute,
  fetchMsiToken,
  goQueryEscape,
  msiTokenUrl,
  type MsiTokenOptions,
} from '../../../shared/azure/imds.js'
import { encodeMsiPayload, goJsonString, parseMsiPayload } from '../../../shared/azure/payloads.js'
import { QUIET_LOGGER } from '../../support/loggers.js'

const reply = (
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResponse => ({
  status,
  headers,
  body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
})

function imds(replies: (HttpResponse | Error)[]) {
  const seen: { url: string; headers: Record<string, string> }[] = []
  const http: HttpFetch = async (req) => {
    seen.push({ url: req.url, headers: { ...req.headers } })
    const r = replies.shift() ?? reply(500, 'no more replies')
    if (r instanceof Error) throw r
    return r
  }
  let t = 0
  const sleeps: number[] = []
  const options = (o: Partial<MsiTokenOptions> = {}): MsiTokenOptions => ({
    resource: 'https://management.azure.com/',
    identity: { kind: 'default' },
    http,
    now: () => t,
    sleep: async (ms) => {
      sleeps.push(ms)
      t += ms
    },
    log: QUIET_LOGGER,
    ...o,
  })
  return { seen, sleeps, options }
}

describe('IMDS token URL', () => {
  test("upstream's exact request: api-version 2018-02-01, url-encoded resource, Go's key order", () => {
    assert.equal(
      msiTokenUrl('http://169.254.169.254', 'https://management.azure.com/', { kind: 'default' }),
      'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F',
    )
  })
  test('identity selectors, sorted after api-version as url.Values.Encode does', () => {
    assert.equal(
      msiTokenUrl('http://169.254.169.254', 'api://x', { kind: 'client_id', value: 'c' }),
      'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&client_id=c&resource=api%3A%2F%2Fx',
    )
    assert.match(
      msiTokenUrl('http://h', 'r', { kind: 'object_id', value: 'o' }),
      /\?api-version=2018-02-01&object_id=o&resource=r$/,
    )
    assert.match(
      msiTokenUrl('http://h', 'r', { kind: 'msi_res_id', value: '/subscriptions/s/x' }),
      /&msi_res_id=%2Fsubscriptions%2Fs%2Fx&resource=r$/,
    )
  })
  test('an endpoint with a path prefix keeps it (emulator per-VM IMDS)', () => {
    assert.match(
      msiTokenUrl('http://127.0.0.1:9/_vm/rg%2Fvm/', 'r', { kind: 'default' }),
      /^http:\/\/127\.0\.0\.1:9\/_vm\/rg%2Fvm\/metadata\/identity/,
    )
  })
  test("goQueryEscape matches Go's url.QueryEscape", () => {
    assert.equal(goQueryEscape("a b!'()*~-_."), 'a+b%21%27%28%29%2A~-_.')
  })
})

describe('fetchMsiToken', () => {
  test('returns access_token; sends Metadata: true', async () => {
    const f = imds([reply(200, { access_token: 'jwt', expires_in: '86399' })])
    assert.equal(await fetchMsiToken(f.options()), 'jwt')
    assert.equal(f.seen[0]?.headers['Metadata'], 'true')
  })

  test('retries 410, 429, 5xx and 404 with backoff; honours Retry-After', async () => {
    const f = imds([
      reply(410, 'gone'),
      reply(429, 'slow down', { 'retry-after': '3' }),
      reply(503, 'x'),
      reply(404, 'updating'),
      reply(200, { access_token: 't' }),
    ])
    assert.equal(await fetchMsiToken(f.options()), 't')
    assert.equal(f.sleeps.length, 4)
    assert.equal(f.sleeps[1], 3000)
  })

  test('transport errors are retried', async () => {
    const f = imds([
      new HttpError('network', 'connect ECONNREFUSED'),
      reply(200, { access_token: 't' }),
    ])
    assert.equal(await fetchMsiToken(f.options()), 't')
  })

  test('400 (e.g. several user-assigned identities) is not retried; upstream message', async () => {
    const body =
      '{"error":"invalid_request","error_description":"Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request"}'
    const f = imds([reply(400, body)])
    await assert.rejects(fetchMsiToken(f.options()), {
      message: `unexpected status code 400: ${body}`,
    })
    assert.equal(f.seen.length, 1)
  })

  test('bounded: the retry budget stops a 410 loop (Azure: up to 70 s)', async () => {
    const f = imds(Array.from({ length: 50 }, () => reply(410, 'gone')))
    await assert.rejects(
      fetchMsiToken(f.options({ budgetMs: 70_000 })),
      /unexpected status code 410/,
    )
    const total = f.sleeps.reduce((a, b) => a + b, 0)
    assert.ok(total <= 70_000, String(total))
    assert.ok(f.seen.length <= 8)
  })

  test('bad bodies: upstream messages', async () => {
    await assert.rejects(
      fetchMsiToken(imds([reply(200, '<html>')]).options()),
      /^ImdsError: unable to decode response: /,
    )
    await assert.rejects(fetchMsiToken(imds([reply(200, { token_type: 'Bearer' })]).options()), {
      message: 'response missing access token',
    })
  })
})

describe('fetchInstanceCompute (server default-credential branch)', () => {
  test('reads compute fields; upstream messages for missing ones', async () => {
    const ok = imds([
      reply(200, {
        compute: { name: 'vm', subscriptionId: 's', resourceGroupName: 'rg', vmScaleSetName: '' },
      }),
    ])
    const { http } = { http: ok.options().http }
    assert.equal((await fetchInstanceCompute({ http })).subscriptionId, 's')
    assert.match(ok.seen[0]!.url, /\/metadata\/instance\?api-version=2025-04-07&format=json$/)
    const missing = imds([reply(200, { compute: { name: 'vm', resourceGroupName: 'rg' } })])
    await assert.rejects(fetchInstanceCompute({ http: missing.options().http }), {
      message: 'response missing instance subscription id',
    })
  })
})

describe('payloads', () => {
  test("encodeMsiPayload produces upstream's exact bytes", () => {
    assert.equal(Buffer.from(encodeMsiPayload('a.b.c')).toString(), '{"token":"a.b.c"}')
    assert.equal(goJsonString('<&>\u2028'), '"\\u003c\\u0026\\u003e\\u2028"')
  })

  test('parseMsiPayload: Go decoding rules', () => {
    assert.deepEqual(parseMsiPayload(Buffer.from('{"token":"t","extra":1}')), { token: 't' })
    assert.deepEqual(
      parseMsiPayload(Buffer.from('{"Token":"t"}')),
      { token: 't' },
      'keys match case-insensitively',
    )
    assert.deepEqual(
      parseMsiPayload(Buffer.from('{"token":"a","TOKEN":"b"}')),
      { token: 'b' },
      'the last matching key wins',
    )
    assert.deepEqual(parseMsiPayload(Buffer.from('{"token":null}')), { token: '' })
    assert.deepEqual(parseMsiPayload(Buffer.from('null')), { token: '' })
    assert.throws(() => parseMsiPayload(Buffer.from('[1]')), {
      message:
        'failed to unmarshal data payload: json: cannot unmarshal array into Go value of type azure.MSIAttestationData',
    })
    assert.throws(() => parseMsiPayload(Buffer.from('"x"')), {
      message:
        'failed to unmarshal data payload: json: cannot unmarshal string into Go value of type azure.MSIAttestationData',
    })
    assert.throws(() => parseMsiPayload(Buffer.from('{"token":true}')), {
      message:
        'failed to unmarshal data payload: json: cannot unmarshal bool into Go struct field MSIAttestationData.token of type string',
    })
    assert.throws(() => parseMsiPayload(Buffer.from('{"token":')), {
      message: /^failed to unmarshal data payload: unexpected end of JSON input$/,
    })
    assert.throws(() => parseMsiPayload(Buffer.alloc(70_000, 32)), /payload exceeds 65536 bytes/)
  })
})

describe('clouds', () => {
  test('names, issuers, ARM scope and metadata domains', () => {
    assert.equal(
      findCloud('azureusgovernmentcloud')?.authorityHost,
      'https://login.microsoftonline.us',
    )
    assert.equal(findCloud('AzureGermanCloud'), undefined)
    assert.equal(CLOUDS.AzureChinaCloud.v1Issuer('t'), 'https://sts.chinacloudapi.cn/t/')
    assert.equal(CLOUDS.AzureUSGovernmentCloud.v1Issuer('t'), 'https://sts.windows.net/t/')
    assert.equal(
      armScope('https://management.usgovcloudapi.net/'),
      'https://management.usgovcloudapi.net/.default',
    )
    assert.deepEqual(ALL_METADATA_DOMAINS, [
      'metadata.azure.com',
      'metadata.azure.us',
      'metadata.azure.cn',
    ])
    assert.equal(cloudOfMetadataHost('eastus.metadata.azure.com')?.name, 'AzurePublicCloud')
    assert.equal(
      cloudOfMetadataHost('usgovvirginia.metadata.azure.us')?.name,
      'AzureUSGovernmentCloud',
    )
    assert.equal(cloudOfMetadataHost('metadata.azure.com.attacker.com'), undefined)
  })
})
