// shared/azure/transient.ts: the one rule that picks Unavailable (try again) over Internal for a
// failed Azure read, on the error shapes the Azure clients really throw.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ArmError, readOrRefuse } from '../../../shared/azure/arm.js'
import { fromSdkError } from '../../../shared/azure/arm-rest.js'
import { HttpError } from '../../../shared/azure/http.js'
import { KeySourceError } from '../../../shared/azure/jwks.js'
import { TenantLookupError } from '../../../shared/azure/tenant-lookup.js'
import {
  azureFailureStatus,
  isTransient,
  isTransientStatus,
} from '../../../shared/azure/transient.js'
import { PluginError } from '../../../shared/plugin/index.js'

const errno = (code: string): Error => Object.assign(new Error(`connect ${code}`), { code })

describe('isTransient', () => {
  test('HTTP statuses: 408, 429 and 5xx are transient; other 4xx and 2xx are not', () => {
    for (const s of [408, 429, 500, 502, 503, 504, 599]) assert.ok(isTransientStatus(s), String(s))
    for (const s of [200, 301, 400, 401, 403, 404, 409, 410, 412, 422, 600]) {
      assert.ok(!isTransientStatus(s), String(s))
    }
  })

  test('ARM errors: by status; a malformed answer (no status, no cause) is permanent', () => {
    assert.ok(isTransient(new ArmError('500 InternalServerError: boom', { status: 500 })))
    assert.ok(isTransient(new ArmError('429 TooManyRequests: slow down', { status: 429 })))
    // the call gate's own refusal while a Retry-After runs
    assert.ok(isTransient(new ArmError('throttled by ARM: retry after 120s', { status: 429 })))
    assert.ok(!isTransient(new ArmError('404 ResourceNotFound: gone', { status: 404 })))
    assert.ok(!isTransient(new ArmError('403 AuthorizationFailed: no', { status: 403 })))
    assert.ok(!isTransient(new ArmError('unable to get an ARM access token', { status: 401 })))
    assert.ok(!isTransient(new ArmError('GET /x: response is not JSON', { status: 200 })))
    assert.ok(!isTransient(new ArmError('virtual machine response has no id')))
    assert.ok(!isTransient(new ArmError('refusing to follow nextLink to another host')))
  })

  test('transport failures: timeouts, aborts and network errors are transient; size and URL are not', () => {
    for (const code of ['timeout', 'aborted', 'network'] as const) {
      const http = new HttpError(code, 'x')
      assert.ok(isTransient(http), code)
      // as arm-rest wraps it: an ArmError without status whose cause is the transport error
      assert.ok(isTransient(new ArmError(http.message, {}, { cause: http })), code)
    }
    for (const code of ['body-too-large', 'bad-url'] as const) {
      const http = new HttpError(code, 'x')
      assert.ok(!isTransient(http), code)
      assert.ok(!isTransient(new ArmError(http.message, {}, { cause: http })), code)
    }
  })

  test('errno and SDK codes: refused, reset, timed out, DNS are transient; others are not', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']) {
      assert.ok(isTransient(errno(code)), code)
      assert.ok(isTransient(new HttpError('network', 'x', { cause: errno(code) })), code)
    }
    assert.ok(isTransient(Object.assign(new Error('x'), { code: 'REQUEST_SEND_ERROR' })))
    for (const code of ['ENOENT', 'EACCES', 'ERR_INVALID_ARG_TYPE', 'ResourceNotFound']) {
      assert.ok(!isTransient(errno(code)), code)
    }
  })

  test('aborts by a deadline (AbortSignal.timeout, abort()) are transient', () => {
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError')
    const aborted = new DOMException('This operation was aborted', 'AbortError')
    assert.ok(isTransient(timeout))
    assert.ok(isTransient(aborted))
    assert.ok(isTransient(new ArmError('aborted', {}, { cause: aborted })))
  })

  test('Azure SDK errors as the REST client turns them into ArmErrors', () => {
    const rest = (statusCode: number | undefined, code?: string) =>
      Object.assign(new Error('sdk'), { name: 'RestError', statusCode, code })
    assert.ok(isTransient(fromSdkError(rest(503))))
    assert.ok(isTransient(fromSdkError(rest(undefined, 'ECONNREFUSED'))))
    assert.ok(!isTransient(fromSdkError(rest(404, 'ResourceNotFound'))))
    // a credential that cannot get a token: 401, retrying will not help
    const auth = Object.assign(new Error('AADSTS7000215'), { name: 'AuthenticationError' })
    assert.ok(!isTransient(fromSdkError(auth)))
    // the SDK path's gate wraps an unknown failure without status: its cause decides
    assert.ok(isTransient(new ArmError('x', {}, { cause: rest(502) })))
    assert.ok(!isTransient(new ArmError('x', {}, { cause: new TypeError('bad') })))
  })

  test('Entra key and tenant lookups: by the status they carry, else by their cause', () => {
    assert.ok(isTransient(new KeySourceError('unexpected status code 503: x', { status: 503 })))
    assert.ok(!isTransient(new KeySourceError('unexpected status code 404: x', { status: 404 })))
    assert.ok(!isTransient(new KeySourceError('failed to decode key set: missing "keys" array')))
    assert.ok(!isTransient(new KeySourceError('configuration missing JWKS URI')))
    assert.ok(
      isTransient(new KeySourceError('x', { cause: new HttpError('timeout', 'timed out') })),
    )
    // an unreadable ca_file surfaces as a PluginError cause: permanent
    const ca = new PluginError('Internal', 'ca_file_unreadable', 'unable to read ca_file "/x"')
    assert.ok(!isTransient(new KeySourceError(ca.message, { cause: ca })))
    assert.ok(
      isTransient(new TenantLookupError('failed to fetch tenant ID, status: 502', { status: 502 })),
    )
    assert.ok(
      !isTransient(
        new TenantLookupError('failed to fetch tenant ID, status: 400', { status: 400 }),
      ),
    )
    assert.ok(!isTransient(new TenantLookupError('malformed tenant ID: "x"')))
    assert.ok(
      isTransient(
        new TenantLookupError('failed to fetch tenant ID: x', {
          cause: new HttpError('network', 'x'),
        }),
      ),
    )
  })

  test('unknown and odd values are permanent; cause chains are bounded', () => {
    for (const v of [undefined, null, 'ECONNRESET', 503, {}, new Error('boom')]) {
      assert.ok(!isTransient(v), String(v))
    }
    const loop: Error & { cause?: unknown } = new Error('loop')
    loop.cause = loop
    assert.ok(!isTransient(loop))
    let deep: unknown = errno('ECONNRESET')
    for (let i = 0; i < 20; i++) deep = new Error(`wrap ${i}`, { cause: deep })
    assert.ok(!isTransient(deep), 'a cause deeper than the bound is not looked at')
  })

  test('azureFailureStatus names the gRPC status', () => {
    assert.equal(azureFailureStatus(new ArmError('x', { status: 500 })), 'Unavailable')
    assert.equal(azureFailureStatus(new ArmError('x', { status: 404 })), 'Internal')
  })

  test("readOrRefuse (the previews' ARM reads): 404 NotFound, transient Unavailable, else Internal", async () => {
    const refusedWith = (err: unknown) =>
      readOrRefuse(() => Promise.reject(err), '/subscriptions/x', 'arm_failed').then(
        () => assert.fail('accepted'),
        (e: PluginError) => [e.status, e.reason, e.message],
      )
    assert.deepEqual(await refusedWith(new ArmError('404 NotFound: gone', { status: 404 })), [
      'NotFound',
      'vm_not_found',
      'resource "/subscriptions/x" not found in ARM',
    ])
    assert.deepEqual(await refusedWith(new ArmError('500 boom', { status: 500 })), [
      'Unavailable',
      'arm_failed',
      'unable to read "/subscriptions/x": 500 boom',
    ])
    assert.deepEqual(await refusedWith(new ArmError('403 no', { status: 403 })), [
      'Internal',
      'arm_failed',
      'unable to read "/subscriptions/x": 403 no',
    ])
  })
})
