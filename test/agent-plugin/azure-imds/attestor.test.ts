import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  HttpError,
  type HttpFetch,
  type HttpRequest,
  type HttpResponse,
} from '../../../shared/azure/http.js'
import { NOOP_LOGGER, Report } from '../../../shared/plugin/index.js'
import { createAttestor } from '../../../agent-plugin/azure-imds/attestor.js'
import { buildConfig, type ImdsAgentConfig } from '../../../agent-plugin/azure-imds/config.js'

const NONCE = 'hQ3vT0bX9kLm2ZpR7sYw4NcD1eFgJ8aU'
const DOC = { encoding: 'pkcs7', signature: 'MIILkgYJKoZIhvcNAQcC' }
const RESOURCE_ID =
  '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines/3'
const io = { signal: new AbortController().signal }

function config(hcl = 'tenant_domain = "contoso.onmicrosoft.com"'): ImdsAgentConfig {
  const report = new Report()
  const c = buildConfig(hcl, { trustDomain: 'example.org' }, report)
  if (c === undefined) throw new Error(report.errors.join('; '))
  return c
}

const json = (
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResponse => ({
  status,
  headers,
  body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
})

function imds(routes: { document?: () => HttpResponse | Error; instance?: () => HttpResponse }) {
  const requests: HttpRequest[] = []
  const http: HttpFetch = async (req) => {
    requests.push(req)
    const path = new URL(req.url).pathname
    const r = path.endsWith('/metadata/attested/document')
      ? routes.document?.()
      : routes.instance?.()
    if (r instanceof Error) throw r
    return r ?? json(404, 'no route')
  }
  const slept: number[] = []
  const deps = {
    http,
    now: () => 0,
    sleep: async (ms: number) => void slept.push(ms),
    log: NOOP_LOGGER,
  }
  return { deps, requests, slept }
}

const instance = (compute: Record<string, string> = {}) =>
  json(200, {
    compute: {
      name: 'web_3',
      subscriptionId: 's',
      resourceGroupName: 'rg',
      vmScaleSetName: 'web',
      resourceId: RESOURCE_ID,
      ...compute,
    },
  })

describe('azure_imds agent attestor', () => {
  test('upstream’s exchange: non_empty_payload, then the document for the nonce plus hints', async () => {
    const { deps, requests } = imds({ document: () => json(200, DOC), instance: () => instance() })
    const a = createAttestor(deps)
    assert.equal(Buffer.from(await a.payload(config(), io)).toString(), 'non_empty_payload')
    const answer = await a.respond!(Buffer.from(NONCE), config(), io)
    assert.equal(
      Buffer.from(answer).toString(),
      `{"document":{"encoding":"pkcs7","signature":"MIILkgYJKoZIhvcNAQcC"},"metadata":{"agentDomain":"contoso.onmicrosoft.com","vmssName":"web","resourceId":"${RESOURCE_ID}"}}`,
    )
    assert.equal(
      requests[0]?.url,
      `http://169.254.169.254/metadata/attested/document?api-version=2025-04-07&nonce=${NONCE}`,
    )
    assert.equal(requests[0]?.headers?.['Metadata'], 'true')
    assert.equal(requests[0]?.timeoutMs, 10_000)
    assert.equal(
      requests[1]?.url,
      'http://169.254.169.254/metadata/instance?api-version=2025-04-07&format=json',
    )
  })

  test('outside a scale set vmssName is null; no resourceId means no hint field', async () => {
    const { deps } = imds({
      document: () => json(200, DOC),
      instance: () => instance({ vmScaleSetName: '', resourceId: '' }),
    })
    const answer = Buffer.from(
      await createAttestor(deps).respond!(Buffer.from(NONCE), config(), io),
    ).toString()
    assert.match(
      answer,
      /"metadata":\{"agentDomain":"contoso.onmicrosoft.com","vmssName":null\}\}$/,
    )
  })

  test('imds_endpoint overrides the IMDS address', async () => {
    const { deps, requests } = imds({ document: () => json(200, DOC), instance: () => instance() })
    await createAttestor(deps).respond!(
      Buffer.from(NONCE),
      config('tenant_domain = "d.example"\nimds_endpoint = "http://127.0.0.1:8080/_vm/x/"'),
      io,
    )
    assert.ok(
      requests[0]?.url.startsWith('http://127.0.0.1:8080/_vm/x/metadata/attested/document?'),
    )
  })

  test('Azure’s retry guidance: 410 and 429 are retried (Retry-After honoured), 404 is not', async () => {
    const answers = [
      json(410, 'gone'),
      json(429, 'slow down', { 'retry-after': '2' }),
      json(200, DOC),
    ]
    const ok = imds({ document: () => answers.shift()!, instance: () => instance() })
    await createAttestor(ok.deps).respond!(Buffer.from(NONCE), config(), io)
    assert.equal(ok.requests.filter((r) => r.url.includes('attested')).length, 3)
    assert.equal(ok.slept[1], 2_000)

    const missing = imds({ document: () => json(404, 'Not found'), instance: () => instance() })
    await assert.rejects(createAttestor(missing.deps).respond!(Buffer.from(NONCE), config(), io), {
      status: 'Internal',
      message:
        'unable to fetch attested document: unexpected status code 404: Not found (this compute type offers no attested data)',
    })
    assert.equal(missing.requests.length, 1)

    // a 404 from /metadata/instance says nothing about attested data: no such hint there
    const noInstance = imds({
      document: () => json(200, DOC),
      instance: () => json(404, 'Not found'),
    })
    await assert.rejects(
      createAttestor(noInstance.deps).respond!(Buffer.from(NONCE), config(), io),
      {
        status: 'Internal',
        reason: 'metadata_fetch_failed',
        message: 'unable to fetch compute metadata: unexpected status code 404: Not found',
      },
    )
  })

  test('IMDS unreachable: a clear "not an Azure VM?" error after the retry budget', async () => {
    const { deps } = imds({
      document: () => new HttpError('network', 'connect EHOSTUNREACH 169.254.169.254:80'),
    })
    await assert.rejects(createAttestor(deps).respond!(Buffer.from(NONCE), config(), io), {
      status: 'Internal',
      reason: 'document_fetch_failed',
      message:
        'unable to fetch attested document: connect EHOSTUNREACH 169.254.169.254:80 (IMDS at http://169.254.169.254 is unreachable: not an Azure VM?)',
    })
  })

  test('upstream’s response checks and messages', async () => {
    const noSig = imds({ document: () => json(200, { encoding: 'pkcs7' }) })
    await assert.rejects(createAttestor(noSig.deps).respond!(Buffer.from(NONCE), config(), io), {
      message: 'unable to fetch attested document: response missing signature',
    })
    const noName = imds({ document: () => json(200, DOC), instance: () => instance({ name: '' }) })
    await assert.rejects(createAttestor(noName.deps).respond!(Buffer.from(NONCE), config(), io), {
      message: 'unable to fetch compute metadata: response missing instance name',
    })
  })

  test('a challenge that is not an IMDS nonce never reaches a URL', async () => {
    const { deps, requests } = imds({ document: () => json(200, DOC) })
    for (const bad of ['', 'a'.repeat(33), 'x&nonce=y', '../etc']) {
      await assert.rejects(createAttestor(deps).respond!(Buffer.from(bad), config(), io), {
        reason: 'invalid_challenge',
      })
    }
    assert.equal(requests.length, 0)
  })

  test('config: tenant_domain is required (upstream’s message); durations and endpoint are checked', () => {
    const errs = (hcl: string) => {
      const r = new Report()
      buildConfig(hcl, { trustDomain: 'example.org' }, r)
      return r.errors
    }
    assert.deepEqual(errs(''), ['tenant_domain is required'])
    assert.deepEqual(errs('tenant_domain = "d"\nretry_timeout = "soon"'), [
      'retry_timeout "soon" must be a positive duration such as "10s"',
    ])
    assert.deepEqual(errs('tenant_domain = "d"\nimds_endpoint = "ftp://x"'), [
      'imds_endpoint "ftp://x" must be an http(s) URL without query',
    ])
    assert.equal(config('tenant_domain = "d"\nretry_timeout = "5s"').retryTimeoutMs, 5_000)
  })
})
