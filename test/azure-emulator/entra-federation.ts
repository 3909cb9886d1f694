import { lookup as dnsLookup } from 'node:dns'
import { request as httpRequest } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import type { LookupFunction } from 'node:net'
import { compactVerify, decodeJwt, decodeProtectedHeader, importJWK } from 'jose'
import type { JWK, JWTPayload } from 'jose'
import { entraError } from './entra-error.js'
import type { Reply } from './http-kit.js'
import { federatedCredential } from './world-build.js'
import type { FederatedCredentialSpec } from './world-spec.js'
import type { App, FederatedCredential } from './world-types.js'

/** Every fetch of an issuer's discovery document or JWKS gives up after this long. */
export const FEDERATION_FETCH_TIMEOUT_MS = 5_000
/** Larger discovery documents or key sets are refused. */
export const FEDERATION_MAX_BODY_BYTES = 256 * 1024
/** Discovery + JWKS are cached per issuer this long, on the emulator's clock. */
export const FEDERATION_CACHE_TTL_MS = 5 * 60_000
/** Entra tolerates 5 minutes of skew on an assertion's `nbf` and `exp`. */
const CLOCK_SKEW_S = 300
const SUPPORTED_ALG = 'RS256'
const RECORD_HINT =
  'Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.'

/** A federated identity credential added at run time; `name` defaults to `fic-<n>`. */
export type FederatedCredentialInput = Omit<FederatedCredentialSpec, 'name'> & { name?: string }

export interface FederationOptions {
  /** PEM roots trusted for `https:` issuers. */
  ca: string[]
  /** Accept `http:` issuers and `jwks_uri`s (Entra never does). */
  allowInsecure: boolean
  now(): Date
}

interface IssuerMetadata {
  keys: readonly JWK[]
  /** Emulator-clock milliseconds */
  fetchedAt: number
}

class FetchFailed extends Error {}
class IssuerMismatch extends Error {}

/**
 * The emulated Entra's side of workload identity federation: the federated identity credentials
 * of each app (the world's, unless changed at run time) and the issuer metadata it fetched.
 */
export class Federation {
  readonly #options: FederationOptions
  /** Apps whose credentials were changed at run time: their whole list (world objects stay as built). */
  readonly #overrides = new Map<App, readonly FederatedCredential[]>()
  readonly #cache = new Map<string, IssuerMetadata>()
  readonly #inflight = new Map<string, Promise<IssuerMetadata>>()

  constructor(options: FederationOptions) {
    this.#options = options
  }

  credentials(app: App): readonly FederatedCredential[] {
    return this.#overrides.get(app) ?? app.federatedCredentials
  }

  add(app: App, input: FederatedCredentialInput): FederatedCredential {
    const list = this.credentials(app)
    const fic = federatedCredential(input, list, `${app.tenant.name}/${app.name}`)
    this.#overrides.set(app, [...list, fic])
    return fic
  }

  /** Removes every federated credential of the app, the world's included. */
  remove(app: App): void {
    this.#overrides.set(app, [])
  }

  /**
   * The issuer's JWKS via its discovery document, cached for 5 minutes on the emulator clock
   * (concurrent requests share one fetch). `refresh` refetches even when cached. Throws
   * FetchFailed or IssuerMismatch.
   */
  async metadata(
    issuer: string,
    refresh: boolean,
  ): Promise<{ metadata: IssuerMetadata; fresh: boolean }> {
    const cached = this.#cache.get(issuer)
    const nowMs = this.#options.now().getTime()
    if (!refresh && cached && nowMs - cached.fetchedAt < FEDERATION_CACHE_TTL_MS) {
      return { metadata: cached, fresh: false }
    }
    let pending = this.#inflight.get(issuer)
    if (!pending) {
      pending = this.#fetchMetadata(issuer).finally(() => this.#inflight.delete(issuer))
      this.#inflight.set(issuer, pending)
    }
    const metadata = await pending
    this.#cache.set(issuer, metadata)
    return { metadata, fresh: true }
  }

  async #fetchMetadata(issuer: string): Promise<IssuerMetadata> {
    const discoveryUrl = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`
    const discovery = await this.#fetchJson(discoveryUrl)
    if (!isRecord(discovery)) throw new FetchFailed('discovery document is not a JSON object')
    if (discovery.issuer !== issuer) throw new IssuerMismatch(String(discovery.issuer))
    if (typeof discovery.jwks_uri !== 'string') throw new FetchFailed('no jwks_uri')
    const jwks = await this.#fetchJson(discovery.jwks_uri)
    if (!isRecord(jwks) || !Array.isArray(jwks.keys) || !jwks.keys.every(isRecord)) {
      throw new FetchFailed('JWKS has no keys array')
    }
    return { keys: jwks.keys as JWK[], fetchedAt: this.#options.now().getTime() }
  }

  /** GET a JSON document from a loopback address: 200 only, no redirects, 5 s, 256 KiB. */
  #fetchJson(href: string): Promise<unknown> {
    let url: URL
    try {
      url = new URL(href)
    } catch {
      return Promise.reject(new FetchFailed(`not a URL: ${href}`))
    }
    const https = url.protocol === 'https:'
    if (!https && !(url.protocol === 'http:' && this.#options.allowInsecure)) {
      return Promise.reject(new FetchFailed(`${url.protocol} endpoints are not trusted`))
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
    if (isIP(host) !== 0 && !isLoopback(host)) {
      return Promise.reject(new FetchFailed(`${host} is not a loopback address`))
    }
    return new Promise((resolve, reject) => {
      let settled = false
      let timer: NodeJS.Timeout | undefined
      const finish = (err: Error | undefined, value?: unknown) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (err) reject(err instanceof FetchFailed ? err : new FetchFailed(err.message))
        else resolve(value)
      }
      const onResponse = (res: IncomingMessage) => {
        const declared = Number(res.headers['content-length'] ?? 0)
        if (res.statusCode !== 200 || declared > FEDERATION_MAX_BODY_BYTES) {
          req.destroy()
          finish(new FetchFailed(`HTTP ${res.statusCode ?? 0} (${declared} bytes)`))
          return
        }
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size > FEDERATION_MAX_BODY_BYTES) {
            req.destroy()
            finish(new FetchFailed(`body over ${FEDERATION_MAX_BODY_BYTES} bytes`))
          } else chunks.push(c)
        })
        res.on('error', (err) => finish(err))
        res.on('aborted', () => finish(new FetchFailed('response aborted')))
        res.on('end', () => {
          try {
            finish(undefined, JSON.parse(Buffer.concat(chunks).toString('utf8')))
          } catch {
            finish(new FetchFailed('body is not JSON'))
          }
        })
      }
      const req = (https ? httpsRequest : httpRequest)(
        url,
        {
          method: 'GET',
          headers: { accept: 'application/json' },
          agent: false,
          lookup: loopbackLookup,
          ...(https ? { ca: this.#options.ca } : {}),
        },
        onResponse,
      )
      timer = setTimeout(() => {
        req.destroy()
        finish(new FetchFailed(`no answer within ${FEDERATION_FETCH_TIMEOUT_MS} ms`))
      }, FEDERATION_FETCH_TIMEOUT_MS)
      req.on('error', (err) => finish(err))
      req.end()
    })
  }
}

/**
 * Entra's checks of a `client_assertion` for an app with federated identity credentials, in
 * Entra's order. Returns the refusal, or undefined when the assertion is good.
 */
export async function checkFederatedAssertion(
  federation: Federation,
  app: App,
  assertion: string,
  now: Date,
): Promise<Reply | undefined> {
  let alg: unknown
  let kid: unknown
  let claims: JWTPayload
  try {
    ;({ alg, kid } = decodeProtectedHeader(assertion))
    claims = decodeJwt(assertion)
  } catch {
    return malformed()
  }
  if (typeof alg !== 'string') return malformed()
  if (alg !== SUPPORTED_ALG) {
    return entraError(
      401,
      'invalid_client',
      5002738,
      `Invalid JWT token. '${alg}' is not a supported signature algorithm. Supported signing algorithms are: '${SUPPORTED_ALG}'`,
    )
  }
  const iss = typeof claims.iss === 'string' ? claims.iss : ''
  const sub = typeof claims.sub === 'string' ? claims.sub : ''
  const byIssuer = federation.credentials(app).filter((f) => f.issuer === iss)
  if (byIssuer.length === 0) return noIssuerMatch(iss)
  let metadata: IssuerMetadata
  let fresh: boolean
  try {
    ;({ metadata, fresh } = await federation.metadata(iss, false))
  } catch (err) {
    return err instanceof IssuerMismatch ? noIssuerMatch(iss) : externalOidcFailed()
  }
  const fic = byIssuer.find((f) => f.subject === sub)
  if (!fic) {
    return entraError(
      401,
      'invalid_client',
      700213,
      `No matching federated identity record found for presented assertion subject '${sub}'. ${RECORD_HINT}`,
    )
  }
  const aud = typeof claims.aud === 'string' ? [claims.aud] : (claims.aud ?? [])
  if (!aud.some((a) => fic.audiences.includes(a))) {
    return entraError(
      401,
      'invalid_client',
      700212,
      `No matching federated identity record found for presented assertion audience '${aud.join(', ')}'. ${RECORD_HINT}`,
    )
  }
  const thumbprint = typeof kid === 'string' ? kid : ''
  let jwk = thumbprint === '' ? undefined : metadata.keys.find((k) => k.kid === thumbprint)
  if (!jwk && thumbprint !== '' && !fresh) {
    // An unknown kid may be a rotated key: refetch once, unless this request just fetched.
    try {
      ;({ metadata } = await federation.metadata(iss, true))
    } catch (err) {
      return err instanceof IssuerMismatch ? noIssuerMatch(iss) : externalOidcFailed()
    }
    jwk = metadata.keys.find((k) => k.kid === thumbprint)
  }
  if (!jwk) {
    return invalidSignature(
      `The key was not found., Thumbprint of key used by client: '${thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${app.clientId}'.`,
    )
  }
  try {
    const key = await importJWK({ ...jwk, alg: SUPPORTED_ALG }, SUPPORTED_ALG)
    await compactVerify(assertion, key, { algorithms: [SUPPORTED_ALG] })
  } catch {
    return invalidSignature(
      'The provided signature value did not match the expected signature value.',
    )
  }
  return checkTimes(claims, now)
}

function checkTimes(claims: JWTPayload, now: Date): Reply | undefined {
  const nowS = now.getTime() / 1000
  const exp = typeof claims.exp === 'number' ? claims.exp : undefined
  const from =
    typeof claims.nbf === 'number'
      ? claims.nbf
      : typeof claims.iat === 'number'
        ? claims.iat
        : undefined
  const expired = exp === undefined || nowS > exp + CLOCK_SKEW_S
  const early = from !== undefined && nowS < from - CLOCK_SKEW_S
  if (!expired && !early) return undefined
  return entraError(
    401,
    'invalid_client',
    700024,
    `Client assertion is not within its valid time range. Current time: ${entraTime(now)}, assertion valid from ${entraTime(from)}, expiry time of assertion ${entraTime(exp)}.`,
  )
}

/** .NET's round-trip format, as Entra prints times: 7 fractional digits; a missing time is DateTime.MinValue. */
function entraTime(t: Date | number | undefined): string {
  const date =
    t === undefined ? new Date(-62_135_596_800_000) : typeof t === 'number' ? new Date(t * 1000) : t
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$10000Z')
}

const malformed = () =>
  entraError(400, 'invalid_request', 50027, 'JWT token is invalid or malformed.')

const noIssuerMatch = (iss: string) =>
  entraError(
    401,
    'invalid_client',
    700211,
    `No matching federated identity record found for presented assertion issuer '${iss}'. ${RECORD_HINT}`,
  )

const externalOidcFailed = () =>
  entraError(401, 'invalid_client', 50166, 'Request to External OIDC endpoint failed.')

const invalidSignature = (reason: string) =>
  entraError(
    401,
    'invalid_client',
    700027,
    `Client assertion contains an invalid signature. [Reason - ${reason}]`,
  )

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isLoopback(address: string): boolean {
  const v4 = address.replace(/^::ffff:/i, '')
  return address === '::1' || (isIP(v4) === 4 && v4.startsWith('127.'))
}

/** Resolves like dns.lookup but refuses names that resolve outside loopback: the emulator fetches nothing else. */
const loopbackLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, options, (err, address, family) => {
    if (err) return callback(err, address, family)
    const all = typeof address === 'string' ? [address] : address.map((a) => a.address)
    const outside = all.find((a) => !isLoopback(a))
    if (outside === undefined) return callback(null, address, family)
    const refused: NodeJS.ErrnoException = new Error(
      `${hostname} resolves to ${outside}, not a loopback address`,
    )
    refused.code = 'ENOTLOOPBACK'
    callback(refused, address, family)
  })
}
