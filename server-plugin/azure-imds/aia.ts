import { isIP } from 'node:net'
import { TtlCache } from '../../shared/azure/cache.js'
import { bodySnippet, type HttpFetch } from '../../shared/azure/http.js'
import { parseDerOrPem, type Cert } from './certificate.js'

/**
 * Hosts allowed to serve issuer certificates named in AIA caIssuers, with a path prefix where
 * Microsoft publishes CA certificates (azure-facts §4.3; taskcluster's `isAllowedAiaLocation`).
 * The URL comes from an unverified certificate, so everything else is refused before any request.
 */
export const AIA_ALLOWED_LOCATIONS: readonly { host: string; pathPrefix: string }[] = [
  { host: 'www.microsoft.com', pathPrefix: '/pkiops/certs/' },
  { host: 'caissuers.microsoft.com', pathPrefix: '/pkiops/certs/' },
  { host: 'cacerts.digicert.com', pathPrefix: '/' },
  { host: 'cacerts.digicert.cn', pathPrefix: '/' },
  { host: 'cacerts.geotrust.com', pathPrefix: '/' },
]
export const AIA_TIMEOUT_MS = 5_000
/** An intermediate is ~1.5 KiB of DER; a PEM copy is bigger but still small. */
export const AIA_MAX_BYTES = 32 * 1024
/** Fetched issuer certificates are reused this long, by URL. */
export const AIA_CACHE_TTL_MS = 24 * 3600_000
export const AIA_CACHE_MAX_ENTRIES = 256
/** Microsoft blocks some user agents (e.g. wget); send an honest, ordinary one. */
export const AIA_USER_AGENT = 'spire-azure-attestor/0.1 (+https://github.com/spiffe/spire)'

export class AiaError extends Error {
  override readonly name = 'AiaError'
  readonly reason: 'aia_not_allowed' | 'aia_fetch_failed'

  constructor(reason: AiaError['reason'], message: string, options?: ErrorOptions) {
    super(message, options)
    this.reason = reason
  }
}

/**
 * Checks an AIA URL against the policy: http(s), an allow-listed host name (never an IP literal),
 * no userinfo, port 80 or 443, and the host's path prefix. Returns the parsed URL or throws.
 */
export function checkAiaUrl(text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new AiaError(
      'aia_not_allowed',
      `CA Issuers URL ${JSON.stringify(text)} is not a valid URL`,
    )
  }
  const refuse = (why: string): never => {
    throw new AiaError(
      'aia_not_allowed',
      `CA Issuers URL ${JSON.stringify(text)} is not allowed: ${why}`,
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') refuse('scheme must be http or https')
  if (url.username !== '' || url.password !== '') refuse('userinfo is not allowed')
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (isIP(host) !== 0) refuse('IP literals are not allowed')
  if (url.port !== '' && url.port !== '80' && url.port !== '443') refuse('port must be 80 or 443')
  const place = AIA_ALLOWED_LOCATIONS.find((p) => p.host === host)
  if (place === undefined) refuse(`host ${JSON.stringify(host)} is not an allowed issuer host`)
  if (!url.pathname.startsWith(place!.pathPrefix))
    refuse(`path must start with ${place!.pathPrefix}`)
  return url
}

/** Where issuer certificates come from when the bundle and cache do not have them. */
export interface IssuerFetcher {
  /** Fetches the certificate an allow-listed AIA URL names. Throws AiaError. */
  fetch(url: string, signal?: AbortSignal): Promise<Cert>
}

export interface AiaFetcherOptions {
  http: HttpFetch
  /** Milliseconds clock for the cache. */
  now(): number
  /**
   * Emulators only: the base URL that answers for every allowed issuer host (the URL path is kept).
   * The allow-list is applied to the certificate's URL before this rewrite.
   */
  issuerOverride?: string
  extraCa?: readonly string[]
  timeoutMs?: number
}

/**
 * AIA fetching with the allow-list, a short timeout, a size cap, no redirects (a 3xx is a failure)
 * and a per-URL cache of successes shared by concurrent attestations.
 */
export function createAiaFetcher(options: AiaFetcherOptions): IssuerFetcher {
  const cache = new TtlCache<Cert>({
    ttlMs: AIA_CACHE_TTL_MS,
    maxEntries: AIA_CACHE_MAX_ENTRIES,
    now: options.now,
  })
  const load = async (url: URL, signal: AbortSignal | undefined): Promise<Cert> => {
    const target =
      options.issuerOverride === undefined
        ? url.toString()
        : `${options.issuerOverride.replace(/\/+$/, '')}${url.pathname}${url.search}`
    let res
    try {
      res = await options.http({
        url: target,
        headers: { 'user-agent': AIA_USER_AGENT, accept: 'application/pkix-cert, */*' },
        timeoutMs: options.timeoutMs ?? AIA_TIMEOUT_MS,
        maxBytes: AIA_MAX_BYTES,
        ...(signal === undefined ? {} : { signal }),
        ...(options.extraCa === undefined ? {} : { extraCa: options.extraCa }),
      })
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err)
      throw new AiaError('aia_fetch_failed', `failed to fetch intermediate certificate: ${msg}`, {
        cause: err,
      })
    }
    if (res.status !== 200) {
      // upstream parity: a non-200 (redirects included: they are not followed) fails the fetch
      throw new AiaError(
        'aia_fetch_failed',
        `failed to fetch intermediate certificate, status: ${res.status} ${bodySnippet(res.body, 64)}`.trimEnd(),
      )
    }
    try {
      return parseDerOrPem(res.body)
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err)
      throw new AiaError('aia_fetch_failed', `failed to parse intermediate certificate: ${msg}`, {
        cause: err,
      })
    }
  }
  return {
    fetch(text, signal) {
      const url = checkAiaUrl(text)
      return cache.getOrLoad(url.toString(), () => load(url, undefined), signal)
    },
  }
}
