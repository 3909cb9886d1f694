import type { JWK } from 'jose'
import { ASYMMETRIC_JWS_ALGORITHMS, JwsError, verifyCompactJws } from '../../shared/azure/jws.js'
import { PluginError, type FailureReason } from '../../shared/plugin/index.js'
import type { MsiServerConfig, TenantConfig } from './config.js'

/**
 * upstream parity: allowedJWTSignatureAlgorithms. Entra signs with RS256; the rest are accepted as
 * upstream does. HS* and `none` are refused before any key is looked at.
 */
export const MSI_ALGORITHMS = ASYMMETRIC_JWS_ALGORITHMS

/**
 * upstream parity: tokenLeeway. MSI tokens live ~24 h, so 5 minutes of clock skew in either
 * direction costs nothing while sparing agents whose clocks drift.
 */
export const TOKEN_LEEWAY_S = 300
/** A real MSI token is ~1.5–2.5 KiB; anything far larger is not one. */
export const MAX_TOKEN_BYTES = 16 * 1024

/** A compact JWS whose header passed the structural checks; nothing in it is trusted yet. */
export interface ParsedToken {
  compact: string
  alg: (typeof MSI_ALGORITHMS)[number]
  kid: string
  /** The decoded protected header (its `alg` and `kid` checked, nothing else trusted). */
  header: Readonly<Record<string, unknown>>
  /** Decoded but unverified claims: only used to pick the key set (tenant, token version). */
  untrustedClaims: Record<string, unknown>
}

/** Claims of a token whose signature verified. */
export interface MsiClaims {
  tenantId: string
  /** `sub`: the managed identity's service principal (object) ID. */
  principalId: string
  issuer: string | undefined
  audience: readonly string[]
  expiry: number | undefined
  notBefore: number | undefined
  issuedAt: number | undefined
  jwtId: string | undefined
  version: string | undefined
  objectId: string | undefined
  /** `appid` (v1) or `azp` (v2): the identity's client ID. */
  clientId: string | undefined
  identityType: string | undefined
  delegated: boolean
  /** `xms_mirid`: the identity's resource (a VM, scale set or user-assigned identity). */
  identityResourceId: string | undefined
  /** `xms_az_rid`: the compute resource holding a user-assigned identity. */
  computeResourceId: string | undefined
}

const GO_JOSE = 'go-jose/go-jose'
const invalid = (reason: FailureReason, message: string) =>
  new PluginError('InvalidArgument', reason, message)

/** Steps 6–7 of upstream's Attest: compact structure, the algorithm allow-list, a key id. */
export function parseMsiToken(token: string): ParsedToken {
  const unparsable = (detail: string) =>
    invalid('malformed_token', `unable to parse token: ${detail}`)
  if (token.length > MAX_TOKEN_BYTES) throw unparsable(`token exceeds ${MAX_TOKEN_BYTES} bytes`)
  const parts = token.split('.')
  if (parts.length !== 3) throw unparsable(`${GO_JOSE}: compact JWS format must have three parts`)
  const [headerPart = '', payloadPart = ''] = parts
  const header = decodeJsonPart(headerPart)
  if ('error' in header) throw unparsable(header.error)
  if (!isRecord(header.value))
    throw unparsable('json: cannot unmarshal non-object into Go value of type jose.rawHeader')
  const alg = typeof header.value['alg'] === 'string' ? header.value['alg'] : ''
  if (!(MSI_ALGORITHMS as readonly string[]).includes(alg)) {
    // upstream parity: go-jose's `unexpected signature algorithm %q; expected %q`
    const expected = `[${MSI_ALGORITHMS.map((a) => `"${a}"`).join(' ')}]`
    throw unparsable(
      `${GO_JOSE}: unexpected signature algorithm ${JSON.stringify(alg)}; expected ${expected}`,
    )
  }
  // upstream parity: go-jose only base64-decodes the payload here; its JSON is read with the
  // claims, after the signature, so a non-JSON payload is an `unable to verify token` error
  if (!/^[A-Za-z0-9_-]*$/.test(payloadPart)) throw unparsable('illegal base64 data')
  const payload = decodeJsonPart(payloadPart)
  const kid = header.value['kid']
  if (typeof kid !== 'string' || kid === '') throw invalid('missing_key_id', 'token missing key id')
  return {
    compact: token,
    alg: alg as ParsedToken['alg'],
    kid,
    header: header.value,
    untrustedClaims: 'value' in payload && isRecord(payload.value) ? payload.value : {},
  }
}

/**
 * Steps 8–11: the key for the kid (the first one published under it, as upstream), the signature,
 * the claim types, and the two claims the agent ID is made of.
 */
export async function verifyTokenSignature(
  token: ParsedToken,
  keys: readonly JWK[],
): Promise<MsiClaims> {
  const jwk = keys[0]
  if (jwk === undefined) {
    throw invalid('unknown_key_id', `key id ${JSON.stringify(token.kid)} not found`)
  }
  const unverifiable = (detail: string, cause?: unknown) =>
    new PluginError('InvalidArgument', 'bad_signature', `unable to verify token: ${detail}`, {
      cause,
    })
  let payload: Uint8Array
  try {
    payload = verifyCompactJws(token.compact, token.header, token.alg, jwk)
  } catch (err) {
    // upstream parity: go-jose reports a bad signature as a failed cryptographic primitive
    if (err instanceof JwsError && err.kind === 'signature')
      throw unverifiable(`${GO_JOSE}: error in cryptographic primitive`, err)
    throw unverifiable(err instanceof Error ? err.message : String(err), err)
  }
  const claims = decodeClaims(payload)
  if ('error' in claims) throw unverifiable(claims.error)
  const c = claims.value
  if (c.tenantId === '')
    throw new PluginError('Internal', 'missing_tenant', 'token missing tenant ID claim')
  if (c.principalId === '')
    throw new PluginError('Internal', 'missing_subject', 'token missing subject claim')
  return c
}

/** Step 14: the token's tenant must be configured. */
export function authorizeTenant(config: MsiServerConfig, claims: MsiClaims): TenantConfig {
  const tenant = config.tenants.get(claims.tenantId.toLowerCase())
  if (tenant === undefined) {
    throw new PluginError(
      'PermissionDenied',
      'tenant_not_authorized',
      `tenant ${JSON.stringify(claims.tenantId)} is not authorized`,
    )
  }
  return tenant
}

/**
 * Step 15, go-jose's ValidateWithLeeway in its order: audience (exact; every entry of an array
 * configured), then nbf, exp and iat with the leeway. An absent nbf or iat is not checked (upstream
 * parity); an absent exp is refused (deviation).
 */
export function checkTokenClaims(
  claims: MsiClaims,
  expected: { audiences: readonly string[]; now: Date },
): void {
  const fail = (reason: FailureReason, what: string) =>
    new PluginError(
      'Internal',
      reason,
      `unable to validate token claims: go-jose/go-jose/jwt: ${what}`,
    )
  // deviation: go-jose accepts an `aud` array holding any one expected audience; here every entry
  // must be a configured audience, so a token also addressed to another service is refused
  const aud = claims.audience
  if (aud.length === 0 || !aud.every((a) => expected.audiences.includes(a))) {
    throw fail('invalid_audience', 'validation failed, invalid audience claim (aud)')
  }
  const nowMs = expected.now.getTime()
  const leewayMs = TOKEN_LEEWAY_S * 1000
  if (claims.notBefore !== undefined && nowMs + leewayMs < claims.notBefore * 1000) {
    throw fail('token_not_yet_valid', 'validation failed, token not valid yet (nbf)')
  }
  // deviation: go-jose skips a missing `exp`; a token that never expires is a permanent credential
  if (claims.expiry === undefined) {
    throw new PluginError('PermissionDenied', 'missing_expiry', 'token has no expiry (exp)')
  }
  if (nowMs - leewayMs > claims.expiry * 1000) {
    throw fail('token_expired', 'validation failed, token is expired (exp)')
  }
  if (claims.issuedAt !== undefined && nowMs + leewayMs < claims.issuedAt * 1000) {
    // upstream parity: "validation field" is go-jose's own typo
    throw fail('token_issued_in_future', 'validation field, token issued in the future (iat)')
  }
}

/**
 * deviation: upstream never checks `iss`. Here it must be the issuer of the token's own tenant in
 * the tenant's cloud (v1 `sts` form or v2 authority form, by `ver`), and a key that names an
 * issuer template (`{tenantid}`) must agree with it (docs/plugin_server_nodeattestor_azure_msi.md).
 */
export function checkIssuer(claims: MsiClaims, tenant: TenantConfig, jwk: JWK | undefined): void {
  const v2 = claims.version === '2.0'
  const expected = v2
    ? tenant.cloud.v2Issuer(claims.tenantId)
    : tenant.cloud.v1Issuer(claims.tenantId)
  const untrustedKey: Record<string, unknown> = jwk === undefined ? {} : { ...jwk }
  const keyIssuer = typeof untrustedKey['issuer'] === 'string' ? untrustedKey['issuer'] : undefined
  const keyOk =
    !v2 ||
    keyIssuer === undefined ||
    keyIssuer.replace(/\{tenantid\}/gi, claims.tenantId) === claims.issuer
  if (claims.issuer !== expected || !keyOk) {
    throw new PluginError(
      'PermissionDenied',
      'issuer_mismatch',
      `token issuer ${JSON.stringify(claims.issuer ?? '')} is not valid for tenant ${JSON.stringify(claims.tenantId)}`,
    )
  }
}

/** deviation: only app-only tokens (managed identities) attest; delegated user tokens do not. */
export function checkTokenType(claims: MsiClaims): void {
  if (claims.delegated || (claims.identityType !== undefined && claims.identityType !== 'app')) {
    throw new PluginError(
      'PermissionDenied',
      'not_an_app_token',
      'token is not a managed identity (application) token',
    )
  }
}

/** deviation: the optional `principal_ids` allow-list (only these managed identities attest). */
export function authorizePrincipal(tenant: TenantConfig, claims: MsiClaims): void {
  if (
    tenant.principalIds !== undefined &&
    !tenant.principalIds.has(claims.principalId.toLowerCase())
  ) {
    throw new PluginError(
      'PermissionDenied',
      'principal_not_authorized',
      `principal ${JSON.stringify(claims.principalId)} is not authorized`,
    )
  }
}

function decodeJsonPart(part: string): { value: unknown } | { error: string } {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) return { error: 'illegal base64 data' }
  try {
    return { value: JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown }
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) }
  }
}

/** The claim types go-jose's decode into MSITokenClaims enforces, with Go's error texts. */
function decodeClaims(payload: Uint8Array): { value: MsiClaims } | { error: string } {
  let untrusted: unknown
  try {
    untrusted = JSON.parse(Buffer.from(payload).toString('utf8'))
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) }
  }
  if (!isRecord(untrusted))
    return { error: 'json: cannot unmarshal non-object into Go value of type azure.MSITokenClaims' }
  const c = untrusted
  const typeError = (name: string, want: string) => ({
    error: `json: cannot unmarshal ${kind(c[name])} into Go struct field MSITokenClaims.${name} of type ${want}`,
  })
  for (const name of ['iss', 'sub', 'jti', 'tid']) {
    if (c[name] !== undefined && c[name] !== null && typeof c[name] !== 'string')
      return typeError(name, 'string')
  }
  for (const name of ['exp', 'nbf', 'iat']) {
    if (c[name] !== undefined && c[name] !== null && typeof c[name] !== 'number')
      return typeError(name, 'jwt.NumericDate')
  }
  const aud = c['aud']
  let audience: string[] = []
  if (typeof aud === 'string') audience = [aud]
  else if (Array.isArray(aud) && aud.every((a): a is string => typeof a === 'string'))
    audience = aud
  else if (aud !== undefined && aud !== null)
    return { error: `${GO_JOSE}/jwt: expected string or array value to unmarshal to Audience` }
  const str = (name: string): string | undefined =>
    typeof c[name] === 'string' ? c[name] : undefined
  const num = (name: string): number | undefined =>
    typeof c[name] === 'number' ? Math.trunc(c[name]) : undefined
  return {
    value: {
      tenantId: str('tid') ?? '',
      principalId: str('sub') ?? '',
      issuer: str('iss'),
      audience,
      expiry: num('exp'),
      notBefore: num('nbf'),
      issuedAt: num('iat'),
      jwtId: str('jti'),
      version: str('ver'),
      objectId: str('oid'),
      clientId: str('appid') ?? str('azp'),
      identityType: str('idtyp'),
      delegated: c['scp'] !== undefined,
      identityResourceId: str('xms_mirid'),
      computeResourceId: str('xms_az_rid'),
    },
  }
}

function kind(v: unknown): string {
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'boolean') return 'bool'
  return typeof v
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
