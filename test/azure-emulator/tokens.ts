import { randomBytes } from 'node:crypto'
import { SignJWT } from 'jose'
import type { EntraKeys } from './entra-keys.js'
import type { App, Tenant, Uami, Vm } from './world-types.js'

/** MSI tokens live about 24 h; Entra back-dates iat/nbf by 5 min (azure-facts §6.1, §6.2). */
export const MSI_TOKEN_LIFETIME_S = 86_400
export const APP_TOKEN_LIFETIME_S = 3_599
const BACKDATE_S = 300

/** Audiences whose tokens carry xms_mirid / xms_az_rid (first-party resources, azure-facts §6.2). */
const FIRST_PARTY_HOSTS = [
  'management.azure.com',
  'management.core.windows.net',
  'management.usgovcloudapi.net',
  'management.core.usgovcloudapi.net',
  'management.chinacloudapi.cn',
  'management.core.chinacloudapi.cn',
  'vault.azure.net',
  'storage.azure.com',
  'graph.microsoft.com',
]

export type IdentitySelector = 'system' | Uami

export interface MsiTokenInput {
  vm: Vm
  /** Which identity: the system-assigned one or a user-assigned one attached to the VM. */
  identity: IdentitySelector
  resource: string
  now: Date
  version?: '1.0' | '2.0'
  lifetimeS?: number
  /** Claims merged over the derived ones (null removes a claim). */
  claims?: Record<string, unknown>
  /** Sign with this key id instead of the tenant's active key. */
  kid?: string
}

export interface IssuedToken {
  token: string
  claims: Record<string, unknown>
  expiresOn: number
  notBefore: number
  clientId: string
}

export function isFirstPartyResource(resource: string): boolean {
  try {
    const host = new URL(resource).hostname.toLowerCase()
    return FIRST_PARTY_HOSTS.some((h) => host === h || host.endsWith(`.${h}`))
  } catch {
    return false
  }
}

/** ARM ids in xms_* claims spell `resourcegroups` in lower case. */
function claimId(id: string): string {
  return id.replace(/\/resourceGroups\//i, '/resourcegroups/')
}

export function tenantOfVm(vm: Vm): Tenant {
  return vm.resourceGroup.subscription.tenant
}

export async function issueMsiToken(keys: EntraKeys, input: MsiTokenInput): Promise<IssuedToken> {
  const tenant = tenantOfVm(input.vm)
  const { principalId, clientId, mirid, azRid } = identityFacts(input.vm, input.identity)
  const extra: Record<string, unknown> = {}
  if (isFirstPartyResource(input.resource)) {
    if (azRid) extra.xms_az_rid = claimId(azRid)
    extra.xms_mirid = claimId(mirid)
  }
  return signToken(keys, tenant, {
    resource: input.resource,
    now: input.now,
    lifetimeS: input.lifetimeS ?? MSI_TOKEN_LIFETIME_S,
    version: input.version ?? '1.0',
    principalId,
    clientId,
    extra: { ...extra, xms_tcdt: 1_720_071_254, ...input.claims },
    ...(input.kid === undefined ? {} : { kid: input.kid }),
  })
}

export async function issueAppToken(
  keys: EntraKeys,
  app: App,
  resource: string,
  now: Date,
  version: '1.0' | '2.0' = '1.0',
): Promise<IssuedToken> {
  return signToken(keys, app.tenant, {
    resource,
    now,
    lifetimeS: APP_TOKEN_LIFETIME_S,
    version,
    principalId: app.objectId,
    clientId: app.clientId,
    extra: {},
  })
}

function identityFacts(vm: Vm, identity: IdentitySelector) {
  if (identity === 'system') {
    const sys = vm.identity.system
    if (!sys) throw new Error(`VM ${vm.key} has no system-assigned identity`)
    return {
      principalId: sys.principalId,
      clientId: sys.clientId,
      mirid: vm.systemIdentityResourceId,
      azRid: undefined,
    }
  }
  const attached = vm.identity.userAssigned.some((u) => u.id === identity.id)
  if (!attached) throw new Error(`identity ${identity.name} is not attached to VM ${vm.key}`)
  const azRid = vm.kind === 'uniform-instance' ? vm.scaleSet!.id : vm.id
  return {
    principalId: identity.principalId,
    clientId: identity.clientId,
    mirid: identity.id,
    azRid,
  }
}

interface SignInput {
  resource: string
  now: Date
  lifetimeS: number
  version: '1.0' | '2.0'
  principalId: string
  clientId: string
  extra: Record<string, unknown>
  kid?: string
}

async function signToken(keys: EntraKeys, tenant: Tenant, input: SignInput): Promise<IssuedToken> {
  const nowS = Math.floor(input.now.getTime() / 1000)
  const tid = tenant.tenantId
  const v1 = input.version === '1.0'
  const iss = v1 ? tenant.cloud.v1Issuer(tid) : tenant.cloud.v2Issuer(tid)
  // Claim order follows real tokens; JSON keeps insertion order.
  const claims: Record<string, unknown> = {
    aud: input.resource,
    iss,
    iat: nowS - BACKDATE_S,
    nbf: nowS - BACKDATE_S,
    exp: nowS + input.lifetimeS,
    aio: randomBytes(48).toString('base64url'),
    ...(v1 ? { appid: input.clientId, appidacr: '2' } : { azp: input.clientId, azpacr: '2' }),
    idp: tenant.cloud.v1Issuer(tid),
    idtyp: 'app',
    oid: input.principalId,
    rh: `1.${randomBytes(40).toString('base64url')}.`,
    sub: input.principalId,
    tid,
    uti: randomBytes(16).toString('base64url'),
    ver: input.version,
    ...input.extra,
  }
  for (const [k, v] of Object.entries(claims)) if (v === null) delete claims[k]
  const key = input.kid ? keys.find(input.kid) : keys.active(tid)
  if (!key) throw new Error(`no signing key ${input.kid}`)
  const header = v1
    ? { typ: 'JWT', alg: 'RS256', x5t: key.x5t, kid: key.kid }
    : { typ: 'JWT', alg: 'RS256', kid: key.kid }
  const token = await new SignJWT(claims).setProtectedHeader(header).sign(key.privateKey)
  return {
    token,
    claims,
    expiresOn: nowS + input.lifetimeS,
    notBefore: nowS - BACKDATE_S,
    clientId: input.clientId,
  }
}
