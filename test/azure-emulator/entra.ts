import { CLOUDS } from './clouds.js'
import type { Cloud } from './clouds.js'
import type { EntraKeys } from './entra-keys.js'
import { json } from './http-kit.js'
import type { Reply, RequestContext, Route, Service } from './http-kit.js'
import { entraError } from './entra-error.js'
import type { Federation } from './entra-federation.js'
import { handleTokenRequest } from './entra-token.js'
import type { World } from './world.js'
import type { Tenant } from './world-types.js'

export interface EntraState {
  outage: boolean
  /** Tenants whose keys were rotated on their own (they get tenant-specific jwks_uri). */
  ownKeys: Set<string>
}

export interface EntraDeps {
  world: World
  keys: EntraKeys
  now(): Date
  state: EntraState
  /** Federated identity credentials and the issuer metadata fetched for them. */
  federation: Federation
}

const GENERIC_TENANTS = new Set(['common', 'organizations', 'consumers'])
const TEMPLATE_TID = '{tenantid}'
const DISCOVERY_CACHE = { 'cache-control': 'max-age=86400, private' }

type TenantRef = { generic: true; cloud: Cloud } | { generic: false; tenant: Tenant }

export function createEntraService(deps: EntraDeps): Service {
  const withTenant = (
    name: string,
    segment: string,
    handle: (ctx: RequestContext, t: TenantRef) => Promise<Reply> | Reply,
  ): Route => ({
    route: name,
    async handle(ctx) {
      if (deps.state.outage) return outageReply()
      const ref = resolveTenant(deps.world, segment, ctx.cloud)
      if (!ref) {
        return entraError(
          400,
          'invalid_tenant',
          90002,
          `Tenant '${segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
        )
      }
      return handle(ctx, ref)
    },
  })
  return {
    name: 'entra',
    match(method, url) {
      const parts = url.pathname.split('/').filter((p) => p.length > 0)
      const [seg, ...rest] = parts
      if (!seg) return undefined
      const path = rest.join('/').toLowerCase()
      if (method === 'GET' && seg === 'common' && path === 'discovery/instance') {
        return {
          route: 'entra.instance-discovery',
          handle: (ctx) => (deps.state.outage ? outageReply() : instanceDiscovery(ctx)),
        }
      }
      if (method === 'GET' && path === '.well-known/openid-configuration') {
        return withTenant('entra.openid-v1', seg, (ctx, t) =>
          json(200, discoveryV1(deps, ctx, t), DISCOVERY_CACHE),
        )
      }
      if (method === 'GET' && path === 'v2.0/.well-known/openid-configuration') {
        return withTenant('entra.openid-v2', seg, (ctx, t) =>
          json(200, discoveryV2(deps, ctx, t), DISCOVERY_CACHE),
        )
      }
      if (method === 'GET' && (path === 'discovery/keys' || path === 'discovery/v2.0/keys')) {
        const v2 = path.includes('v2.0')
        return withTenant('entra.jwks', seg, (_ctx, t) =>
          json(200, jwks(deps, t, v2), DISCOVERY_CACHE),
        )
      }
      if (method === 'POST' && (path === 'oauth2/v2.0/token' || path === 'oauth2/token')) {
        const v2 = path.includes('v2.0')
        return withTenant('entra.token', seg, (ctx, t) =>
          t.generic
            ? entraError(
                400,
                'invalid_request',
                900023,
                'Specified tenant identifier is neither a valid DNS name, nor a valid external domain.',
              )
            : handleTokenRequest(deps, ctx, t.tenant, v2),
        )
      }
      return undefined
    },
    notFound: () =>
      json(404, {
        error: 'not_found',
        error_description: 'AADSTS90100: The endpoint does not exist.',
      }),
    errorReply: (status) =>
      status === 429
        ? entraError(
            429,
            'temporarily_unavailable',
            50196,
            'The server terminated an operation because it encountered a client request loop.',
          )
        : entraError(
            status,
            'temporarily_unavailable',
            90033,
            'A transient error has occurred. Please try again.',
          ),
  }
}

function outageReply(): Reply {
  return entraError(
    503,
    'temporarily_unavailable',
    90033,
    'A transient error has occurred. Please try again.',
  )
}

function resolveTenant(
  world: World,
  segment: string,
  cloud: Cloud | undefined,
): TenantRef | undefined {
  if (GENERIC_TENANTS.has(segment.toLowerCase()))
    return { generic: true, cloud: cloud ?? CLOUDS.public }
  const s = segment.toLowerCase()
  const tenant = world.tenants.find(
    (t) => t.tenantId === s || t.domains.some((d) => d.toLowerCase() === s),
  )
  if (!tenant) return undefined
  if (cloud && tenant.cloud !== cloud) return undefined
  return { generic: false, tenant }
}

function facts(t: TenantRef): { tid: string; cloud: Cloud } {
  return t.generic
    ? { tid: TEMPLATE_TID, cloud: t.cloud }
    : { tid: t.tenant.tenantId, cloud: t.tenant.cloud }
}

function discoveryV1(deps: EntraDeps, ctx: RequestContext, t: TenantRef): Record<string, unknown> {
  const { tid, cloud } = facts(t)
  const base = `${ctx.origin}/${t.generic ? ctx.url.pathname.split('/')[1] : tid}`
  const ownKeys = !t.generic && deps.state.ownKeys.has(tid)
  return {
    token_endpoint: `${base}/oauth2/token`,
    token_endpoint_auth_methods_supported: [
      'client_secret_post',
      'private_key_jwt',
      'client_secret_basic',
    ],
    jwks_uri: ownKeys ? `${base}/discovery/keys` : `${ctx.origin}/common/discovery/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'token id_token', 'token'],
    scopes_supported: ['openid'],
    issuer: cloud.v1Issuer(tid),
    microsoft_multi_refresh_token: true,
    authorization_endpoint: `${base}/oauth2/authorize`,
    device_authorization_endpoint: `${base}/oauth2/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/logout`,
    claims_supported: [
      'sub',
      'iss',
      'cloud_instance_name',
      'cloud_instance_host_name',
      'cloud_graph_host_name',
      'msgraph_host',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'acr',
      'amr',
      'nonce',
      'email',
      'given_name',
      'family_name',
      'nickname',
    ],
    check_session_iframe: `${base}/oauth2/checksession`,
    userinfo_endpoint: `${base}/openid/userinfo`,
    kerberos_endpoint: `${base}/kerberos`,
    tenant_region_scope: t.generic ? null : 'NA',
    cloud_instance_name: cloud.cloudInstanceName,
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
    rbac_url: 'https://pas.windows.net',
  }
}

function discoveryV2(deps: EntraDeps, ctx: RequestContext, t: TenantRef): Record<string, unknown> {
  const { tid, cloud } = facts(t)
  const seg = t.generic ? ctx.url.pathname.split('/')[1] : tid
  const base = `${ctx.origin}/${seg}`
  void deps
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: [
      'client_secret_post',
      'private_key_jwt',
      'client_secret_basic',
    ],
    jwks_uri: `${base}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: cloud.v2Issuer(tid),
    request_uri_parameter_supported: false,
    userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    claims_supported: [
      'sub',
      'iss',
      'cloud_instance_name',
      'cloud_instance_host_name',
      'cloud_graph_host_name',
      'msgraph_host',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'acr',
      'nonce',
      'preferred_username',
      'name',
      'tid',
      'ver',
      'at_hash',
      'c_hash',
      'email',
    ],
    kerberos_endpoint: `${base}/kerberos`,
    tenant_region_scope: t.generic ? null : 'NA',
    cloud_instance_name: cloud.cloudInstanceName,
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
    rbac_url: 'https://pas.windows.net',
  }
}

function jwks(deps: EntraDeps, t: TenantRef, v2: boolean) {
  const { tid, cloud } = facts(t)
  const own = t.generic ? undefined : deps.state.ownKeys.has(tid) ? tid : undefined
  return deps.keys.jwks(own, v2 ? cloud.v2Issuer(tid) : undefined)
}

/** MSAL's instance discovery (used unless `disableInstanceDiscovery`). */
function instanceDiscovery(ctx: RequestContext): Reply {
  const host = ctx.url.host
  return json(200, {
    tenant_discovery_endpoint: `${ctx.origin}/common/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  })
}
