import type { AzureCloud } from './clouds.js'
import { parseJsonBody, type HttpFetch } from './http.js'
import { isGuid } from './resource-id.js'

/** upstream parity: 10 s for the discovery request. */
export const TENANT_LOOKUP_TIMEOUT_MS = 10_000
const MAX_DISCOVERY_BYTES = 64 * 1024

export class TenantLookupError extends Error {
  override readonly name = 'TenantLookupError'
  /** Entra's HTTP status when it answered with another than 200 (read by `isTransient`). */
  readonly status: number | undefined

  constructor(message: string, options?: ErrorOptions & { status?: number }) {
    super(message, options)
    this.status = options?.status
  }
}

/**
 * A tenant domain's ID from its v1 OpenID discovery document (`{authority}/{domain}/.well-known/
 * openid-configuration`), whose `issuer` is the cloud's v1 issuer for the tenant. Messages are
 * upstream's (`failed to fetch tenant ID: …`, `malformed tenant ID: "<issuer>"`).
 * deviation: any cloud's authority and issuer form, not only the public cloud's.
 */
export async function lookupTenantId(options: {
  http: HttpFetch
  authorityHost: string
  cloud: AzureCloud
  domain: string
  extraCa?: readonly string[]
  signal?: AbortSignal
}): Promise<string> {
  const url = `${options.authorityHost.replace(/\/+$/, '')}/${encodeURIComponent(options.domain)}/.well-known/openid-configuration`
  let res
  try {
    res = await options.http({
      url,
      timeoutMs: TENANT_LOOKUP_TIMEOUT_MS,
      maxBytes: MAX_DISCOVERY_BYTES,
      headers: { accept: 'application/json' },
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.extraCa === undefined ? {} : { extraCa: options.extraCa }),
    })
  } catch (err) {
    throw new TenantLookupError(
      `failed to fetch tenant ID: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    )
  }
  if (res.status !== 200)
    throw new TenantLookupError(`failed to fetch tenant ID, status: ${res.status}`, {
      status: res.status,
    })
  let body: unknown
  try {
    body = parseJsonBody(res.body)
  } catch (err) {
    throw new TenantLookupError(`failed to unmarshal tenant ID: ${(err as Error).message}`)
  }
  const issuer =
    typeof body === 'object' && body !== null
      ? (body as Record<string, unknown>)['issuer']
      : undefined
  const text = typeof issuer === 'string' ? issuer : ''
  const tenantId = tenantFromIssuer(text, options.cloud)
  if (tenantId === undefined)
    throw new TenantLookupError(`malformed tenant ID: ${JSON.stringify(text)}`)
  return tenantId
}

/** The tenant segment of a cloud's v1 issuer (`https://sts.windows.net/<tid>/`), if it is a GUID. */
export function tenantFromIssuer(issuer: string, cloud: AzureCloud): string | undefined {
  const marker = '00000000-0000-0000-0000-000000000000'
  const [prefix = '', suffix = ''] = cloud.v1Issuer(marker).split(marker)
  if (!issuer.startsWith(prefix) || !issuer.endsWith(suffix)) return undefined
  const tid = issuer.slice(prefix.length, issuer.length - suffix.length)
  return isGuid(tid) ? tid.toLowerCase() : undefined
}
