import type { TokenCredential } from '@azure/identity'
import { ArmError, armErrorCode, armErrorMessage } from './arm.js'
import { fromSdkError } from './arm-sdk.js'
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

/** Authenticated JSON calls to ARM for the APIs the SDK clients we load do not cover. */
export interface ArmRest {
  get(path: string, query: Readonly<Record<string, string>>, signal?: AbortSignal): Promise<unknown>
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
  const call = async (
    method: 'GET' | 'POST',
    path: string,
    query: Readonly<Record<string, string>>,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<unknown> => {
    const qs = new URLSearchParams(query).toString()
    const url = `${endpoint}${path}${qs === '' ? '' : `?${qs}`}`
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
  return {
    get: (path, query, signal) => call('GET', path, query, undefined, signal),
    post: (path, query, body, signal) => call('POST', path, query, body, signal),
  }
}
