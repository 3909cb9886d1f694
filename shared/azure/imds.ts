import type { Logger } from '../plugin/index.js'
import { IMDS_ENDPOINT } from './clouds.js'
import {
  bodySnippet,
  HttpError,
  nodeHttp,
  parseJsonBody,
  retryAfterMs,
  type HttpFetch,
} from './http.js'
import { sleep, withRetry, type RetryVerdict } from './retry.js'

/** upstream parity: the token endpoint's api-version in pkg/common/plugin/azure/msi.go. */
export const MSI_TOKEN_API_VERSION = '2018-02-01'
export const IMDS_REQUEST_TIMEOUT_MS = 10_000
/** Azure: retry 410 for up to 70 s; the same bound caps every other retry. */
export const IMDS_RETRY_BUDGET_MS = 70_000
export const IMDS_MAX_ATTEMPTS = 8
const IMDS_MAX_BODY_BYTES = 256 * 1024
const BASE_BACKOFF_MS = 1_000
const MAX_BACKOFF_MS = 16_000

/** Which managed identity IMDS should issue the token for; at most one selector. */
export type MsiIdentitySelector =
  | { kind: 'default' }
  | { kind: 'client_id'; value: string }
  | { kind: 'object_id'; value: string }
  | { kind: 'msi_res_id'; value: string }

/** One IMDS call with retries: the agent's seams plus where, how long and how often. */
export interface ImdsCallOptions extends ImdsAgentDeps {
  /** IMDS base URL; `http://169.254.169.254` on Azure. */
  endpoint?: string
  timeoutMs?: number
  budgetMs?: number
  maxAttempts?: number
  signal?: AbortSignal
}

export interface MsiTokenOptions extends ImdsCallOptions {
  resource: string
  identity: MsiIdentitySelector
}

/** An IMDS failure, with upstream's message (`unexpected status code …`, `unable to decode …`). */
export class ImdsError extends Error {
  readonly status: number | undefined
  readonly retryAfterMs: number | undefined

  constructor(message: string, status?: number, retryAfterMs?: number, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ImdsError'
    this.status = status
    this.retryAfterMs = retryAfterMs
  }
}

/** Go's url.QueryEscape: space as `+`, everything but `A-Za-z0-9-_.~` percent-encoded. */
export function goQueryEscape(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
}

/** The token URL with query keys in Go's sorted order, as `url.Values.Encode` writes them. */
export function msiTokenUrl(
  endpoint: string,
  resource: string,
  identity: MsiIdentitySelector,
): string {
  const params: [string, string][] = [
    ['api-version', MSI_TOKEN_API_VERSION],
    ['resource', resource],
  ]
  if (identity.kind !== 'default') params.push([identity.kind, identity.value])
  params.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const query = params.map(([k, v]) => `${goQueryEscape(k)}=${goQueryEscape(v)}`).join('&')
  return `${endpoint.replace(/\/+$/, '')}/metadata/identity/oauth2/token?${query}`
}

/**
 * Fetches a managed identity access token from IMDS. Retries what Azure says to retry (404 while
 * IMDS updates, 410, 429, 5xx, and transport failures) with bounded exponential backoff, honouring
 * Retry-After. Only `access_token` is read from the response.
 */
export async function fetchMsiToken(options: MsiTokenOptions): Promise<string> {
  const url = msiTokenUrl(options.endpoint ?? IMDS_ENDPOINT, options.resource, options.identity)
  const timeoutMs = options.timeoutMs ?? IMDS_REQUEST_TIMEOUT_MS
  return withRetry(
    async () => {
      const { status, body } = await getImdsJson({
        http: options.http,
        url,
        timeoutMs,
        now: options.now,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      })
      const token =
        typeof body === 'object' && body !== null
          ? (body as Record<string, unknown>)['access_token']
          : undefined
      if (typeof token !== 'string' || token === '')
        throw new ImdsError('response missing access token', status)
      return token
    },
    {
      maxAttempts: options.maxAttempts ?? IMDS_MAX_ATTEMPTS,
      baseDelayMs: BASE_BACKOFF_MS,
      maxDelayMs: MAX_BACKOFF_MS,
      budgetMs: options.budgetMs ?? IMDS_RETRY_BUDGET_MS,
      now: options.now,
      sleep: options.sleep,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      classify: (err) => classifyImdsFailure(err),
      onRetry: ({ attempt, delayMs, error }) =>
        options.log.debug('Retrying IMDS token request', {
          attempt,
          delay_ms: delayMs,
          error: error instanceof Error ? error.message : String(error),
        }),
    },
  )
}

/**
 * Azure's retry guidance for IMDS (azure-facts §1): 410, 429 and 5xx, and transport failures, with
 * Retry-After honoured. A 404 is retried for tokens (the identity may still be propagating) but
 * not for attested data, where it means a compute type without it.
 */
export function classifyImdsFailure(
  err: unknown,
  options: { retryNotFound: boolean } = { retryNotFound: true },
): RetryVerdict {
  if (!(err instanceof ImdsError)) return { retry: false }
  const s = err.status
  if (s === undefined) {
    const cause = err.cause
    return {
      retry: !(
        cause instanceof HttpError &&
        (cause.code === 'bad-url' || cause.code === 'aborted')
      ),
    }
  }
  if ((s === 404 && options.retryNotFound) || s === 410 || s === 429 || s >= 500) {
    return err.retryAfterMs === undefined
      ? { retry: true }
      : { retry: true, afterMs: err.retryAfterMs }
  }
  return { retry: false }
}

/** upstream parity: the instance metadata api-version of pkg/common/plugin/azure (v1.15.3). */
export const INSTANCE_API_VERSION = '2025-04-07'

/** The unsigned `compute` fields we read: hints for routing, never for decisions. */
export interface InstanceCompute {
  name: string
  subscriptionId: string
  resourceGroupName: string
  vmScaleSetName: string
  resourceId: string
  vmId: string
  azEnvironment: string
}

/**
 * `GET /metadata/instance?api-version=…&format=json` with upstream's checks and messages
 * (`response missing instance name`, …), bounded by a timeout (upstream has none).
 */
export async function fetchInstanceCompute(options: {
  endpoint?: string
  http: HttpFetch
  timeoutMs?: number
  signal?: AbortSignal
}): Promise<InstanceCompute> {
  const base = (options.endpoint ?? IMDS_ENDPOINT).replace(/\/+$/, '')
  const { status, body } = await getImdsJson({
    http: options.http,
    url: `${base}/metadata/instance?api-version=${INSTANCE_API_VERSION}&format=json`,
    timeoutMs: options.timeoutMs ?? IMDS_REQUEST_TIMEOUT_MS,
    now: Date.now,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  })
  return parseInstanceCompute(body, status)
}

/**
 * One IMDS GET (`Metadata: true`, bounded time and size) whose answer must be 200 and JSON.
 * Failures are ImdsErrors that the retry classification reads: no status for transport failures,
 * the status and any Retry-After otherwise.
 */
export async function getImdsJson(request: {
  http: HttpFetch
  url: string
  timeoutMs: number
  now(): number
  signal?: AbortSignal
}): Promise<{ status: number; body: unknown }> {
  let res
  try {
    res = await request.http({
      url: request.url,
      headers: { Metadata: 'true' },
      timeoutMs: request.timeoutMs,
      maxBytes: IMDS_MAX_BODY_BYTES,
      // IMDS is link-local on the VM: never through HTTPS_PROXY/HTTP_PROXY (as azidentity and SPIRE)
      direct: true,
      ...(request.signal === undefined ? {} : { signal: request.signal }),
    })
  } catch (err) {
    throw new ImdsError(err instanceof Error ? err.message : String(err), undefined, undefined, {
      cause: err,
    })
  }
  if (res.status !== 200) {
    throw new ImdsError(
      `unexpected status code ${res.status}: ${bodySnippet(res.body)}`,
      res.status,
      retryAfterMs(res.headers, new Date(request.now())),
    )
  }
  try {
    return { status: res.status, body: parseJsonBody(res.body) }
  } catch (err) {
    throw new ImdsError(`unable to decode response: ${(err as Error).message}`, res.status)
  }
}

/**
 * The `compute` section of `/metadata/instance` (unsigned: hints only), with upstream's required
 * fields and messages. Shared by the msi server's own-subscription lookup and the imds agent.
 */
export function parseInstanceCompute(untrustedBody: unknown, status: number): InstanceCompute {
  const compute =
    typeof untrustedBody === 'object' && untrustedBody !== null
      ? (untrustedBody as Record<string, unknown>)['compute']
      : undefined
  const field = (name: string): string => {
    const v =
      typeof compute === 'object' && compute !== null
        ? (compute as Record<string, unknown>)[name]
        : undefined
    return typeof v === 'string' ? v : ''
  }
  const c: InstanceCompute = {
    name: field('name'),
    subscriptionId: field('subscriptionId'),
    resourceGroupName: field('resourceGroupName'),
    vmScaleSetName: field('vmScaleSetName'),
    resourceId: field('resourceId'),
    vmId: field('vmId'),
    azEnvironment: field('azEnvironment'),
  }
  if (c.name === '') throw new ImdsError('response missing instance name', status)
  if (c.subscriptionId === '')
    throw new ImdsError('response missing instance subscription id', status)
  if (c.resourceGroupName === '')
    throw new ImdsError('response missing instance resource group name', status)
  return c
}

/** An agent attestor's seams: the IMDS transport, the clock (epoch ms) and the backoff timer. */
export interface ImdsAgentDeps {
  http: HttpFetch
  now(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  log: Logger
}

/** Production seams for either agent attestor. */
export function createImdsAgentDeps(log: Logger): ImdsAgentDeps {
  return { http: nodeHttp, now: () => Date.now(), sleep, log }
}

/** An agent's IMDS call options from its config (the same three settings on both agents). */
export function imdsCallOptions(
  deps: ImdsAgentDeps,
  config: { imdsEndpoint: string; requestTimeoutMs: number; retryTimeoutMs: number },
  signal: AbortSignal,
): ImdsCallOptions {
  return {
    ...deps,
    endpoint: config.imdsEndpoint,
    timeoutMs: config.requestTimeoutMs,
    budgetMs: config.retryTimeoutMs,
    signal,
  }
}
