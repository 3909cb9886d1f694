import { json } from './http-kit.js'
import type { Reply, RequestContext } from './http-kit.js'
import type { ImdsDeps } from './imds.js'
import { issueMsiToken } from './tokens.js'
import type { IdentitySelector, IssuedToken } from './tokens.js'
import type { Vm } from './world-types.js'

/** IMDS hands out a cached token until it is this close to expiry. */
const CACHE_REFRESH_MARGIN_S = 300
const MULTIPLE_UAMI =
  'Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request'

export type TokenCache = Map<string, IssuedToken>

function invalid(description: string): Reply {
  return json(400, { error: 'invalid_request', error_description: description })
}

/** Chooses the identity the way IMDS does (azure-facts §6.1), or explains the 400. */
export function selectIdentity(
  vm: Vm,
  params: URLSearchParams,
): { identity: IdentitySelector } | { error: Reply } {
  const clientId = params.get('client_id')
  const objectId = params.get('object_id')
  const resId = params.get('msi_res_id') ?? params.get('mi_res_id')
  const given = [clientId, objectId, resId].filter((v) => v !== null)
  if (given.length > 1)
    return { error: invalid('Only one of client_id, object_id and msi_res_id may be specified') }
  const sys = vm.identity.system
  const uamis = vm.identity.userAssigned
  if (given.length === 0) {
    if (sys) return { identity: 'system' }
    if (uamis.length === 1) return { identity: uamis[0]! }
    return { error: invalid(uamis.length > 1 ? MULTIPLE_UAMI : 'Identity not found') }
  }
  const lower = given[0]!.toLowerCase()
  if (clientId !== null) {
    if (sys?.clientId === lower) return { identity: 'system' }
    const u = uamis.find((x) => x.clientId === lower)
    return u ? { identity: u } : { error: invalid('Identity not found') }
  }
  if (objectId !== null) {
    if (sys?.principalId === lower) return { identity: 'system' }
    const u = uamis.find((x) => x.principalId === lower)
    return u ? { identity: u } : { error: invalid('Identity not found') }
  }
  const u = uamis.find((x) => x.id.toLowerCase() === lower)
  return u ? { identity: u } : { error: invalid('Identity not found') }
}

export async function issueImdsToken(deps: ImdsDeps, ctx: RequestContext, vm: Vm): Promise<Reply> {
  const params = ctx.url.searchParams
  const resource = params.get('resource')
  if (!resource) return invalid("Required query variable 'resource' is missing")
  const picked = selectIdentity(vm, params)
  if ('error' in picked) return picked.error
  const identity = picked.identity
  const now = deps.now()
  const nowS = Math.floor(now.getTime() / 1000)
  const cacheKey = `${vm.id}|${identity === 'system' ? 'system' : identity.id}|${resource}`
  let issued = deps.state.tokenCache.get(cacheKey)
  if (
    !issued ||
    params.get('bypass_cache') === 'true' ||
    issued.expiresOn - nowS < CACHE_REFRESH_MARGIN_S
  ) {
    issued = await issueMsiToken(deps.keys, { vm, identity, resource, now })
    deps.state.tokenCache.set(cacheKey, issued)
  }
  const expiresIn = String(issued.expiresOn - nowS)
  // IMDS returns every number as a string.
  return json(200, {
    access_token: issued.token,
    client_id: issued.clientId,
    expires_in: expiresIn,
    expires_on: String(issued.expiresOn),
    ext_expires_in: expiresIn,
    not_before: String(issued.notBefore),
    resource,
    token_type: 'Bearer',
  })
}
