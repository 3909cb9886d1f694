// Entra ID's signing keys for token verification: OIDC discovery, cached per discovery document,
// refreshed ahead of expiry, served stale (bounded) through outages, refetched for rotated kids.
import type { JWK } from 'jose'
import type { Logger } from '../plugin/index.js'
import { REFRESH_AHEAD_AT, REFRESH_AHEAD_JITTER } from './cache.js'
import { bodySnippet, isLoopbackHost, parseJsonBody, type HttpFetch } from './http.js'

/** upstream parity: SPIRE refreshes its Entra key set hourly. */
export const KEYS_TTL_MS = 60 * 60_000
/** How long past its TTL a key set is still served while Entra cannot be reached. */
export const KEYS_MAX_STALE_MS = 24 * 60 * 60_000
/** At most one refetch per discovery document in this window for a `kid` we have not seen. */
export const UNKNOWN_KID_COOLDOWN_MS = 30_000
/** After a failed refresh, the stale set is served without refetching for this long. */
export const REFRESH_FAILURE_BACKOFF_MS = 30_000
export const KEYS_FETCH_TIMEOUT_MS = 10_000
export const KEYS_MAX_BODY_BYTES = 1024 * 1024
const MAX_KEY_SETS = 256
/** With nothing cached, a failed fetch is retried sooner (every attestation waits on it). */
const EMPTY_FAILURE_BACKOFF_MS = 5_000

export interface OidcKeySourceOptions {
  http: HttpFetch
  /** Milliseconds clock. */
  now(): number
  log: Logger
  ttlMs?: number
  maxStaleMs?: number
  unknownKidCooldownMs?: number
  failureBackoffMs?: number
  timeoutMs?: number
  extraCa?: readonly string[]
  /**
   * Refresh a key set in the background once it is past ~80 % of its TTL (jittered per set), so
   * no attestation waits on the hourly refetch (default true).
   */
  refreshAhead?: boolean
  /** Uniform in [0, 1) for that jitter (injected: tests fix it). Default Math.random. */
  random?(): number
}

/** Signing keys published by one OIDC discovery document, looked up by `kid`. */
export interface KeySource {
  /**
   * Every key published under `kid` (usually one), after at most one coalesced refresh for an
   * unknown kid; an empty list when it is not published. Throws `KeySourceError` when no key
   * set can be had at all.
   */
  keysFor(discoveryUrl: string, kid: string, signal?: AbortSignal): Promise<readonly JWK[]>
}

/** No usable key set: never fetched, or too stale to serve. Messages follow upstream's fetch errors. */
export class KeySourceError extends Error {
  /** Entra's HTTP status when it answered with another than 200 (read by `isTransient`). */
  readonly status: number | undefined

  constructor(message: string, options?: ErrorOptions & { status?: number }) {
    super(message, options)
    this.name = 'KeySourceError'
    this.status = options?.status
  }
}

interface KeySetState {
  keys: ReadonlyMap<string, readonly JWK[]> | undefined
  fetchedAt: number
  /** From here until the TTL, a read starts one background refresh and is served `keys`. */
  refreshAt: number
  lastAttemptAt: number
  lastError: KeySourceError | undefined
  refreshing: Promise<void> | undefined
}

/**
 * Keys from OIDC discovery (`jwks_uri`), cached per discovery URL: refreshed in the background
 * once past a jittered ~80 % of the TTL (the cached set is served meanwhile; only a read past the
 * TTL waits, joining that refresh), served stale (bounded) while the endpoint is down, and
 * refetched once, coalesced and rate limited, when a token names a kid the cached set lacks
 * (Entra rotated its keys).
 */
export class OidcKeySource implements KeySource {
  readonly #o: Required<Omit<OidcKeySourceOptions, 'extraCa'>> & { extraCa?: readonly string[] }
  readonly #sets = new Map<string, KeySetState>()

  constructor(options: OidcKeySourceOptions) {
    this.#o = {
      ttlMs: KEYS_TTL_MS,
      maxStaleMs: KEYS_MAX_STALE_MS,
      unknownKidCooldownMs: UNKNOWN_KID_COOLDOWN_MS,
      failureBackoffMs: REFRESH_FAILURE_BACKOFF_MS,
      timeoutMs: KEYS_FETCH_TIMEOUT_MS,
      refreshAhead: true,
      random: Math.random,
      ...options,
    }
  }

  async keysFor(discoveryUrl: string, kid: string, signal?: AbortSignal): Promise<readonly JWK[]> {
    const state = this.#state(discoveryUrl)
    const now = this.#o.now()
    const age = now - state.fetchedAt
    if (state.keys === undefined || age >= this.#o.ttlMs) {
      const backoff = state.keys === undefined ? EMPTY_FAILURE_BACKOFF_MS : this.#o.failureBackoffMs
      const recentFailure = state.lastError !== undefined && now - state.lastAttemptAt < backoff
      // a refresh already under way is joined, whatever the backoff says
      const attempt = state.refreshing !== undefined || !recentFailure
      if (attempt) await this.#refresh(discoveryUrl, state, signal)
      this.#assertUsable(discoveryUrl, state, attempt)
    } else if (now >= state.refreshAt && state.refreshing === undefined) {
      // refresh ahead: this read is served the cached set; one refresh runs in the background
      // (it never throws), unless one failed within the backoff
      const recentFailure =
        state.lastError !== undefined && now - state.lastAttemptAt < this.#o.failureBackoffMs
      if (!recentFailure) void this.#refresh(discoveryUrl, state)
    }
    const known = state.keys?.get(kid)
    if (known !== undefined) return known
    if (
      state.refreshing !== undefined ||
      this.#o.now() - state.lastAttemptAt >= this.#o.unknownKidCooldownMs
    ) {
      this.#o.log.debug('Refreshing signing keys for an unknown key id', {
        kid,
        discovery_url: discoveryUrl,
      })
      await this.#refresh(discoveryUrl, state, signal)
    }
    return state.keys?.get(kid) ?? []
  }

  #state(url: string): KeySetState {
    let state = this.#sets.get(url)
    if (state === undefined) {
      if (this.#sets.size >= MAX_KEY_SETS) {
        const oldest = this.#sets.keys().next()
        if (oldest.done !== true) this.#sets.delete(oldest.value)
      }
      state = {
        keys: undefined,
        fetchedAt: 0,
        refreshAt: Number.POSITIVE_INFINITY,
        lastAttemptAt: -Infinity,
        lastError: undefined,
        refreshing: undefined,
      }
      this.#sets.set(url, state)
    }
    return state
  }

  #assertUsable(url: string, state: KeySetState, justAttempted: boolean): void {
    const age = this.#o.now() - state.fetchedAt
    if (state.keys !== undefined && age < this.#o.ttlMs) return
    if (state.keys !== undefined && age < this.#o.ttlMs + this.#o.maxStaleMs) {
      if (!justAttempted) return
      this.#o.log.warn('Serving stale signing keys', {
        discovery_url: url,
        age_s: Math.round(age / 1000),
        error: state.lastError?.message,
      })
      return
    }
    throw state.lastError ?? new KeySourceError('key set unavailable')
  }

  /** One refresh at a time per discovery URL; failures are recorded, never thrown. */
  #refresh(url: string, state: KeySetState, signal?: AbortSignal): Promise<void> {
    if (state.refreshing === undefined) {
      state.lastAttemptAt = this.#o.now()
      state.refreshing = this.#fetchKeySet(url)
        .then((keys) => {
          state.keys = keys
          state.fetchedAt = this.#o.now()
          state.refreshAt = this.#o.refreshAhead
            ? state.fetchedAt +
              Math.round(
                this.#o.ttlMs *
                  (REFRESH_AHEAD_AT + REFRESH_AHEAD_JITTER * (2 * this.#o.random() - 1)),
              )
            : Number.POSITIVE_INFINITY
          state.lastError = undefined
          this.#o.log.debug('Signing keys refreshed', { discovery_url: url, keys: keys.size })
        })
        .catch((err: unknown) => {
          state.lastError = err instanceof KeySourceError ? err : new KeySourceError(String(err))
          // upstream parity: "Unable to refresh key set"
          this.#o.log.warn('Unable to refresh key set', {
            discovery_url: url,
            error: state.lastError.message,
          })
        })
        .finally(() => {
          state.refreshing = undefined
        })
    }
    const pending = state.refreshing
    if (signal === undefined) return pending
    return Promise.race([
      pending,
      new Promise<void>((resolve) =>
        signal.addEventListener('abort', () => resolve(), { once: true }),
      ),
    ])
  }

  async #fetchKeySet(discoveryUrl: string): Promise<ReadonlyMap<string, readonly JWK[]>> {
    const config = await this.#getJson(discoveryUrl, 'configuration')
    const jwksUri = isRecord(config) ? config['jwks_uri'] : undefined
    if (typeof jwksUri !== 'string' || jwksUri === '') {
      throw new KeySourceError('configuration missing JWKS URI')
    }
    checkFetchableUrl(jwksUri)
    const set = await this.#getJson(jwksUri, 'key set')
    return parseKeySet(set)
  }

  async #getJson(url: string, what: 'configuration' | 'key set'): Promise<unknown> {
    let res
    try {
      res = await this.#o.http({
        url,
        timeoutMs: this.#o.timeoutMs,
        maxBytes: KEYS_MAX_BODY_BYTES,
        headers: { accept: 'application/json' },
        ...(this.#o.extraCa === undefined ? {} : { extraCa: this.#o.extraCa }),
      })
    } catch (err) {
      throw new KeySourceError(err instanceof Error ? err.message : String(err), { cause: err })
    }
    if (res.status !== 200) {
      throw new KeySourceError(`unexpected status code ${res.status}: ${bodySnippet(res.body)}`, {
        status: res.status,
      })
    }
    try {
      return parseJsonBody(res.body)
    } catch (err) {
      throw new KeySourceError(`failed to decode ${what}: ${(err as Error).message}`)
    }
  }
}

/** A JWK Set body → keys by kid, in document order. Keys without a string kid are skipped. */
export function parseKeySet(untrusted: unknown): ReadonlyMap<string, readonly JWK[]> {
  const keys = isRecord(untrusted) ? untrusted['keys'] : undefined
  if (!Array.isArray(keys)) {
    throw new KeySourceError('failed to decode key set: missing "keys" array')
  }
  const byKid = new Map<string, JWK[]>()
  for (const k of keys as unknown[]) {
    if (!isRecord(k) || typeof k['kty'] !== 'string' || typeof k['kid'] !== 'string') continue
    if (k['use'] !== undefined && k['use'] !== 'sig') continue
    const list = byKid.get(k['kid']) ?? []
    list.push(k as JWK)
    byKid.set(k['kid'], list)
  }
  return byKid
}

/** https anywhere; plain http only on loopback (test doubles). */
export function checkFetchableUrl(url: string): void {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new KeySourceError(`invalid URL ${JSON.stringify(url)}`)
  }
  if (u.protocol === 'https:' || (u.protocol === 'http:' && isLoopbackHost(u.hostname))) return
  throw new KeySourceError(`refusing to fetch keys from ${JSON.stringify(url)}: https required`)
}

/** `{authority}/{tenant}/.well-known/openid-configuration`, or the v2.0 document. */
export function discoveryUrl(
  authorityHost: string,
  tenant: string,
  version: '1.0' | '2.0',
): string {
  const base = `${authorityHost.replace(/\/+$/, '')}/${encodeURIComponent(tenant)}`
  return version === '2.0'
    ? `${base}/v2.0/.well-known/openid-configuration`
    : `${base}/.well-known/openid-configuration`
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
