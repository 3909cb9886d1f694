import type { TokenCredential } from '@azure/identity'
import { ArmError, armErrorCode, armErrorMessage, isRecord } from './arm.js'
import { parseJsonBody, retryAfterMs, type HttpFetch } from './http.js'

export const ARM_REST_TIMEOUT_MS = 15_000
export const ARM_REST_MAX_BODY_BYTES = 4 * 1024 * 1024

export interface ArmRestOptions {
  credential: TokenCredential
  /** ARM base URL, e.g. `https://management.azure.com`. */
  armEndpoint: string
  /** e.g. `https://management.azure.com/.default` */
  armScope: string
  http: HttpFetch
  extraCa?: readonly string[]
  /** Epoch milliseconds (the one Clock type). */
  now(): number
  timeoutMs?: number
}

/** Authenticated JSON calls to ARM: the one transport every ARM and Resource Graph read uses. */
export interface ArmRest {
  get(path: string, query: Readonly<Record<string, string>>, signal?: AbortSignal): Promise<unknown>
  /** A list's `nextLink` (a whole URL): only on the configured ARM origin, never elsewhere. */
  getNextLink(url: string, signal?: AbortSignal): Promise<unknown>
  post(
    path: string,
    query: Readonly<Record<string, string>>,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<unknown>
}

/**
 * One request per call, no retries (callers wrap calls in a gate that owns retries and
 * Retry-After), bearer token only to the configured ARM origin, no redirects followed.
 */
export function createArmRest(options: ArmRestOptions): ArmRest {
  const endpoint = options.armEndpoint.replace(/\/+$/, '')
  const origin = new URL(endpoint).origin
  const call = async (
    method: 'GET' | 'POST',
    url: string,
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<unknown> => {
    let token
    try {
      token = await options.credential.getToken(
        options.armScope,
        signal === undefined ? {} : { abortSignal: signal },
      )
    } catch (err) {
      throw fromSdkError(err)
    }
    if (token === null) throw new ArmError('unable to get an ARM access token', { status: 401 })
    let res
    try {
      res = await options.http({
        url,
        method,
        headers: {
          authorization: `Bearer ${token.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        timeoutMs: options.timeoutMs ?? ARM_REST_TIMEOUT_MS,
        maxBytes: ARM_REST_MAX_BODY_BYTES,
        ...(signal === undefined ? {} : { signal }),
        ...(options.extraCa === undefined ? {} : { extraCa: options.extraCa }),
      })
    } catch (err) {
      throw new ArmError(err instanceof Error ? err.message : String(err), {}, { cause: err })
    }
    let parsed: unknown
    try {
      parsed = parseJsonBody(res.body)
    } catch {
      parsed = undefined
    }
    if (res.status < 200 || res.status > 299) {
      const after = retryAfterMs(res.headers, new Date(options.now()))
      const code = armErrorCode(parsed)
      throw new ArmError(
        armErrorMessage(res.status, parsed, res.body.subarray(0, 256).toString('utf8')),
        {
          status: res.status,
          ...(code === undefined ? {} : { code }),
          ...(after === undefined ? {} : { retryAfterMs: after }),
        },
      )
    }
    if (parsed === undefined)
      throw new ArmError(`${method} ${path}: response is not JSON`, { status: res.status })
    return parsed
  }
  const at = (path: string, query: Readonly<Record<string, string>>): string => {
    const qs = new URLSearchParams(query).toString()
    return `${endpoint}${path}${qs === '' ? '' : `?${qs}`}`
  }
  return {
    get: (path, query, signal) => call('GET', at(path, query), path, undefined, signal),
    async getNextLink(url, signal) {
      let u: URL
      try {
        u = new URL(url)
      } catch {
        throw new ArmError(`invalid nextLink ${JSON.stringify(url.slice(0, 200))}`)
      }
      // the bearer token goes to the configured ARM origin only
      if (u.origin !== origin) throw new ArmError('refusing to follow nextLink to another host')
      return call('GET', u.href, u.pathname, undefined, signal)
    },
    post: (path, query, body, signal) => call('POST', at(path, query), path, body, signal),
  }
}

/** A RestError (status, code, headers) or a credential failure → ArmError. */
export function fromSdkError(err: unknown): ArmError {
  if (err instanceof ArmError) return err
  const e = isRecord(err) ? err : {}
  const message = err instanceof Error ? err.message : String(err)
  const status = typeof e['statusCode'] === 'number' ? e['statusCode'] : undefined
  const code = typeof e['code'] === 'string' ? e['code'] : undefined
  const name = err instanceof Error ? err.name : ''
  if (
    status === undefined &&
    /Authentication(Required)?Error|CredentialUnavailableError/.test(name)
  ) {
    // the credential could not get a token: retrying will not help
    return new ArmError(
      `unable to get an ARM access token: ${message}`,
      { status: 401 },
      { cause: err },
    )
  }
  const response = isRecord(e['response']) ? e['response'] : undefined
  const headers =
    response !== undefined && isRecord(response['headers']) ? response['headers'] : undefined
  const get =
    headers !== undefined && typeof headers['get'] === 'function'
      ? (headers['get'] as (n: string) => unknown)
      : undefined
  const header = (n: string): string | undefined => {
    const v = get?.call(headers, n)
    return typeof v === 'string' ? v : undefined
  }
  const hdrs: Record<string, string> = {}
  for (const n of ['retry-after', 'retry-after-ms', 'x-ms-retry-after-ms']) {
    const v = header(n)
    if (v !== undefined) hdrs[n] = v
  }
  const after = retryAfterMs(hdrs, new Date())
  return new ArmError(
    status === undefined ? message : `${status}${code === undefined ? '' : ` ${code}`}: ${message}`,
    {
      ...(status === undefined ? {} : { status }),
      ...(code === undefined ? {} : { code }),
      ...(after === undefined ? {} : { retryAfterMs: after }),
    },
    { cause: err },
  )
}
