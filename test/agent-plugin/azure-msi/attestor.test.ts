import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { HttpFetch, HttpRequest, HttpResponse } from '../../../shared/azure/http.js'
import { Report, type PluginError } from '../../../shared/plugin/index.js'
import { createAttestor } from '../../../agent-plugin/azure-msi/attestor.js'
import { buildConfig, type MsiAgentConfig } from '../../../agent-plugin/azure-msi/config.js'
import type { ImdsAgentDeps as Deps } from '../../../shared/azure/imds.js'
import { recordingLogger } from '../../support/loggers.js'

const UAMI =
  '/subscriptions/d5b40d61-272e-48da-beb9-05f295c42bd6/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/agent'

function build(hcl: string) {
  const report = new Report()
  const config = buildConfig(hcl, { trustDomain: 'example.org' }, report)
  return { config, report }
}

function configOf(hcl: string): MsiAgentConfig {
  const { config, report } = build(hcl)
  assert.ok(config, report.errors.join('; '))
  return config
}

describe('azure_msi agent config', () => {
  test('empty plugin_data: upstream defaults', () => {
    assert.deepEqual(configOf(''), {
      resourceId: 'https://management.azure.com/',
      identity: { kind: 'default' },
      imdsEndpoint: 'http://169.254.169.254',
      requestTimeoutMs: 10_000,
      retryTimeoutMs: 70_000,
    })
  })

  test("upstream's sample: custom resource_id", () => {
    assert.equal(
      configOf('resource_id = "http://example.org/app/"').resourceId,
      'http://example.org/app/',
    )
  })

  test('client_id, object_id or msi_res_id pick a user-assigned identity', () => {
    assert.deepEqual(configOf('client_id = "ebdab26b-0000-1111-2222-333344445555"').identity, {
      kind: 'client_id',
      value: 'ebdab26b-0000-1111-2222-333344445555',
    })
    assert.deepEqual(configOf('object_id = "b0f31bfd-1234-4321-abcd-0123456789ab"').identity, {
      kind: 'object_id',
      value: 'b0f31bfd-1234-4321-abcd-0123456789ab',
    })
    assert.deepEqual(configOf(`msi_res_id = "${UAMI}"`).identity, {
      kind: 'msi_res_id',
      value: UAMI,
    })
  })

  for (const c of [
    {
      hcl: 'client_id = "ebdab26b-0000-1111-2222-333344445555"\nobject_id = "b0f31bfd-1234-4321-abcd-0123456789ab"',
      error: 'only one of client_id, object_id or msi_res_id may be set',
    },
    { hcl: 'client_id = "not-a-guid"', error: 'client_id "not-a-guid" must be a GUID' },
    {
      hcl: 'msi_res_id = "/subscriptions/x"',
      error: 'msi_res_id "/subscriptions/x" is not a user-assigned identity resource ID',
    },
    {
      hcl: 'imds_endpoint = "ftp://x"',
      error: 'imds_endpoint "ftp://x" must be an http(s) URL without query',
    },
    {
      hcl: 'request_timeout = "10"',
      error: 'request_timeout "10" must be a positive duration such as "10s"',
    },
    {
      hcl: 'retry_timeout = "0s"',
      error: 'retry_timeout "0s" must be a positive duration such as "10s"',
    },
  ]) {
    test(`refuses: ${c.error}`, () => {
      const { config, report } = build(c.hcl)
      assert.equal(config, undefined)
      assert.deepEqual(report.errors, [c.error])
    })
  }

  test('durations and endpoint override', () => {
    const c = configOf(
      'imds_endpoint = "http://127.0.0.1:8080/_vm/x/"\nrequest_timeout = "2s"\nretry_timeout = "1m"',
    )
    assert.equal(c.imdsEndpoint, 'http://127.0.0.1:8080/_vm/x')
    assert.equal(c.requestTimeoutMs, 2_000)
    assert.equal(c.retryTimeoutMs, 60_000)
  })

  test('decode failures use upstream wording; unknown keys warn', () => {
    assert.match(
      build('resource_id = {')!.report.errors[0] ?? '',
      /^unable to decode configuration: /,
    )
    assert.deepEqual(build('resource = "x"').report.warnings, [
      'unknown configurations detected: resource',
    ])
  })
})

function fakeImds(replies: HttpResponse[]) {
  const requests: HttpRequest[] = []
  const http: HttpFetch = async (req) => {
    requests.push(req)
    return replies.shift() ?? { status: 500, headers: {}, body: Buffer.from('exhausted') }
  }
  const log = recordingLogger()
  const deps: Deps = { http, now: () => 0, sleep: async () => {}, log }
  return { requests, deps, log }
}

const ok = (token: string): HttpResponse => ({
  status: 200,
  headers: {},
  body: Buffer.from(JSON.stringify({ access_token: token, expires_in: '86399' })),
})
const signal = new AbortController().signal

describe('azure_msi agent attestor', () => {
  test("payload: upstream's exact request and bytes", async () => {
    const f = fakeImds([ok('header.payload.sig')])
    const payload = await createAttestor(f.deps).payload(configOf(''), { signal })
    assert.equal(Buffer.from(payload).toString(), '{"token":"header.payload.sig"}')
    assert.equal(
      f.requests[0]?.url,
      'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F',
    )
    assert.deepEqual(f.requests[0]?.headers, { Metadata: 'true' })
    assert.equal(f.requests[0]?.timeoutMs, 10_000)
  })

  test('user-assigned identity selection reaches IMDS', async () => {
    const f = fakeImds([ok('t')])
    await createAttestor(f.deps).payload(configOf(`msi_res_id = "${UAMI}"`), { signal })
    assert.match(
      f.requests[0]!.url,
      /&msi_res_id=%2Fsubscriptions%2F.*%2FuserAssignedIdentities%2Fagent&resource=/,
    )
  })

  test('failures: Internal "unable to fetch token: <err>"', async () => {
    const f = fakeImds([
      { status: 400, headers: {}, body: Buffer.from('{"error":"invalid_request"}') },
    ])
    await assert.rejects(
      createAttestor(f.deps).payload(configOf(''), { signal }),
      (err: unknown) => {
        const e = err as PluginError
        assert.equal(e.status, 'Internal')
        assert.equal(
          e.message,
          'unable to fetch token: unexpected status code 400: {"error":"invalid_request"}',
        )
        return true
      },
    )
  })

  test('transient IMDS failures are retried before the payload is sent', async () => {
    const gone: HttpResponse = { status: 410, headers: {}, body: Buffer.from('') }
    const f = fakeImds([gone, gone, ok('t')])
    assert.equal(
      Buffer.from(await createAttestor(f.deps).payload(configOf(''), { signal })).toString(),
      '{"token":"t"}',
    )
    assert.equal(f.requests.length, 3)
  })

  test('the token is never logged', async () => {
    const f = fakeImds([ok('secret.token.value')])
    await createAttestor(f.deps).payload(configOf(''), { signal })
    assert.ok(!JSON.stringify(f.log.lines).includes('secret.token.value'))
  })
})
