import { decodeProtectedHeader, jwtVerify } from 'jose'
import { CLOUD_NAMES, CLOUDS } from './clouds.js'
import type { Cloud } from './clouds.js'
import type { EntraKeys } from './entra-keys.js'
import { json } from './http-kit.js'
import type { Reply, RequestContext } from './http-kit.js'

/** ARM tolerates 5 minutes of clock skew. */
const CLOCK_SKEW_S = 300

export interface Caller {
  tenantId: string
  objectId: string
}

export function armError(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Reply {
  return json(status, { error: { code, message } }, headers)
}

/** ARM's 404 body for a missing resource. */
export const notFound = (type: string, name: string, rg: string) =>
  armError(
    404,
    'ResourceNotFound',
    `The Resource '${type}/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  )

function unauthorized(code: string, message: string): Reply {
  return armError(401, code, message, {
    'www-authenticate': `Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="${message.replace(/"/g, "'")}"`,
  })
}

/**
 * Checks `Authorization: Bearer` like ARM: a token Entra (the emulator) signed, unexpired, for an
 * ARM audience of the cloud (or this emulator's own origin, which SDK clients with an `endpoint`
 * override ask for).
 */
export async function authenticate(
  ctx: RequestContext,
  keys: EntraKeys,
  now: Date,
): Promise<Caller | Reply> {
  const header = ctx.req.headers.authorization
  if (!header)
    return unauthorized(
      'AuthenticationFailed',
      "Authentication failed. The 'Authorization' header is missing.",
    )
  const m = /^Bearer\s+(\S+)$/i.exec(header)
  if (!m)
    return unauthorized(
      'AuthenticationFailed',
      "Authentication failed. The 'Authorization' header is provided in an invalid format.",
    )
  const token = m[1]!
  let kid: string | undefined
  try {
    kid = decodeProtectedHeader(token).kid
  } catch {
    return unauthorized('InvalidAuthenticationToken', 'The access token is invalid.')
  }
  const key = kid ? keys.find(kid) : undefined
  if (!key) return unauthorized('InvalidAuthenticationToken', 'The access token is invalid.')
  const audiences = acceptedAudiences(ctx.cloud, ctx.origin)
  try {
    const { payload } = await jwtVerify(token, key.publicKey, {
      algorithms: ['RS256'],
      currentDate: now,
      clockTolerance: CLOCK_SKEW_S,
    })
    if (typeof payload.aud !== 'string' || !audiences.includes(payload.aud)) {
      return unauthorized(
        'InvalidAuthenticationTokenAudience',
        `The access token has been obtained for wrong audience or resource '${String(payload.aud)}'. It should exactly match with one of the allowed audiences '${audiences.join("','")}'.`,
      )
    }
    const tid = payload.tid
    const oid = payload.oid
    if (typeof tid !== 'string' || typeof oid !== 'string') {
      return unauthorized('InvalidAuthenticationToken', 'The access token is invalid.')
    }
    return { tenantId: tid, objectId: oid }
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'ERR_JWT_EXPIRED')
      return unauthorized(
        'ExpiredAuthenticationToken',
        'The access token expiry UTC time is earlier than current UTC time.',
      )
    return unauthorized('InvalidAuthenticationToken', 'The access token is invalid.')
  }
}

function acceptedAudiences(cloud: Cloud | undefined, origin: string): string[] {
  const clouds = cloud ? [cloud] : CLOUD_NAMES.map((c) => CLOUDS[c])
  return [...clouds.flatMap((c) => c.armAudiences), origin, `${origin}/`]
}

export function wrongTenant(tokenTid: string, subTid: string, cloud: Cloud): Reply {
  return unauthorized(
    'InvalidAuthenticationTokenTenant',
    `The access token is from the wrong issuer '${cloud.v1Issuer(tokenTid)}'. It must match the tenant '${cloud.v1Issuer(subTid)}' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/${subTid}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.`,
  )
}
