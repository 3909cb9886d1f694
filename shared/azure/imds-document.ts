import { IMDS_ENDPOINT } from './clouds.js'
import { HttpError } from './http.js'
import {
  classifyImdsFailure,
  getImdsJson,
  goQueryEscape,
  ImdsError,
  INSTANCE_API_VERSION,
  parseInstanceCompute,
  type ImdsCallOptions,
  type InstanceCompute,
} from './imds.js'
import type { ImdsDocument } from './imds-payload.js'
import { withRetry, type RetryVerdict } from './retry.js'

/** upstream parity: the attested-document api-version of pkg/common/plugin/azure (v1.15.3). */
export const ATTESTED_API_VERSION = '2025-04-07'
/** upstream parity: 10 s per request. */
export const ATTESTED_REQUEST_TIMEOUT_MS = 10_000
/**
 * Retries stop after this long. Azure asks for up to 70 s on 410 while a VM boots, but the server
 * waits 60 s for the challenge response, so the agent gives up sooner and says why.
 */
export const ATTESTED_RETRY_BUDGET_MS = 30_000
export const ATTESTED_MAX_ATTEMPTS = 6
const BASE_BACKOFF_MS = 500
const MAX_BACKOFF_MS = 8_000

export type { ImdsCallOptions }

/**
 * `GET /metadata/attested/document?api-version=…&nonce=…` (query keys in Go's sorted order) with
 * upstream's checks and messages. Retries what Azure says to retry (410, 429, 5xx, transport
 * failures) within the budget; a 404 — a compute type without attested data — fails at once.
 */
export async function fetchAttestedDocument(
  options: ImdsCallOptions & { nonce: string },
): Promise<ImdsDocument> {
  const base = (options.endpoint ?? IMDS_ENDPOINT).replace(/\/+$/, '')
  const url =
    `${base}/metadata/attested/document?api-version=${goQueryEscape(ATTESTED_API_VERSION)}` +
    `&nonce=${goQueryEscape(options.nonce)}`
  return retrying(options, 'Retrying IMDS attested document request', async () => {
    const body = await getJson(options, url)
    const rec = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
    const encoding = typeof rec['encoding'] === 'string' ? rec['encoding'] : ''
    const signature = typeof rec['signature'] === 'string' ? rec['signature'] : ''
    if (encoding === '') throw new ImdsError('response missing encoding', 200)
    if (signature === '') throw new ImdsError('response missing signature', 200)
    return { encoding, signature }
  })
}

/** The unsigned `compute` fields the agent relays as hints (never trusted by the server). */
export type InstanceMetadata = InstanceCompute

/**
 * `GET /metadata/instance?api-version=…&format=json` with upstream's required fields and messages
 * (`response missing instance name`, …), retried like the document.
 */
export async function fetchInstanceMetadata(options: ImdsCallOptions): Promise<InstanceMetadata> {
  const base = (options.endpoint ?? IMDS_ENDPOINT).replace(/\/+$/, '')
  const url = `${base}/metadata/instance?api-version=${INSTANCE_API_VERSION}&format=json`
  return retrying(options, 'Retrying IMDS instance metadata request', async () => {
    return parseInstanceCompute(await getJson(options, url), 200)
  })
}

/** True when the failure means IMDS could not be reached at all (off Azure, or a blocked route). */
export function isImdsUnreachable(err: unknown): boolean {
  return (
    err instanceof ImdsError &&
    err.status === undefined &&
    err.cause instanceof HttpError &&
    (err.cause.code === 'network' || err.cause.code === 'timeout')
  )
}

async function getJson(options: ImdsCallOptions, url: string): Promise<unknown> {
  const { body } = await getImdsJson({
    http: options.http,
    url,
    timeoutMs: options.timeoutMs ?? ATTESTED_REQUEST_TIMEOUT_MS,
    now: options.now,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  })
  return body
}

function retrying<T>(
  options: ImdsCallOptions,
  message: string,
  attempt: () => Promise<T>,
): Promise<T> {
  return withRetry(attempt, {
    maxAttempts: options.maxAttempts ?? ATTESTED_MAX_ATTEMPTS,
    baseDelayMs: BASE_BACKOFF_MS,
    maxDelayMs: MAX_BACKOFF_MS,
    budgetMs: options.budgetMs ?? ATTESTED_RETRY_BUDGET_MS,
    now: options.now,
    sleep: options.sleep,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    classify: classifyAttestedFailure,
    onRetry: ({ attempt: n, delayMs, error }) =>
      options.log.debug(message, {
        attempt: n,
        delay_ms: delayMs,
        error: error instanceof Error ? error.message : String(error),
      }),
  })
}

/** Azure's guidance for attested data: as for tokens, but a 404 is final (no attested data here). */
export const classifyAttestedFailure = (err: unknown): RetryVerdict =>
  classifyImdsFailure(err, { retryNotFound: false })
