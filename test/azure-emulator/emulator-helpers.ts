import { signAttestedDocument } from './attested-document.js'
import type { AttestedDocument, SignDocumentInput } from './attested-document.js'
import type { EntraKeys } from './entra-keys.js'
import type { Pki, Signer } from './pki.js'
import { issueAppToken, issueMsiToken } from './tokens.js'
import type { IdentitySelector, IssuedToken } from './tokens.js'
import type { World } from './world.js'
import type { Vm } from './world-types.js'

export const ARM_RESOURCE = 'https://management.azure.com/'

export interface MsiTokenOptions {
  /** VM handle (see World.findVm) */
  vm: string
  /** 'system', or a user-assigned identity by name, client id, principal id or ARM id. Default: as IMDS picks. */
  identity?: string
  /** Default `https://management.azure.com/` */
  resource?: string
  now?: Date
  version?: '1.0' | '2.0'
  lifetimeS?: number
  claims?: Record<string, unknown>
  kid?: string
}

export interface AppTokenOptions {
  /** Tenant by name, id or domain */
  tenant: string
  /** App by name or client id; default the tenant's first app */
  app?: string
  resource?: string
  now?: Date
}

export type DocumentOptions = Partial<Omit<SignDocumentInput, 'signer' | 'now'>> & {
  /** VM handle; gives vmId and subscriptionId unless those are set */
  vm?: string
  signer?: Signer
  now?: Date
}

export function pickIdentity(vm: Vm, ref: string | undefined): IdentitySelector {
  if (ref === undefined) {
    if (vm.identity.system) return 'system'
    if (vm.identity.userAssigned.length === 1) return vm.identity.userAssigned[0]!
    throw new Error(
      `VM ${vm.key} has ${vm.identity.userAssigned.length} user-assigned identities and no system identity: name one`,
    )
  }
  if (ref === 'system') return 'system'
  const r = ref.toLowerCase()
  const u = vm.identity.userAssigned.find(
    (x) =>
      x.name.toLowerCase() === r ||
      x.clientId === r ||
      x.principalId === r ||
      x.id.toLowerCase() === r,
  )
  if (!u) throw new Error(`VM ${vm.key} has no user-assigned identity ${JSON.stringify(ref)}`)
  return u
}

export function createTokenHelpers(world: World, keys: EntraKeys, now: () => Date) {
  return {
    /** An MSI token exactly as IMDS would hand it to the VM (no cache). */
    issueMsiToken(o: MsiTokenOptions): Promise<IssuedToken> {
      const vm = world.vm(o.vm)
      return issueMsiToken(keys, {
        vm,
        identity: pickIdentity(vm, o.identity),
        resource: o.resource ?? ARM_RESOURCE,
        now: o.now ?? now(),
        ...(o.version ? { version: o.version } : {}),
        ...(o.lifetimeS ? { lifetimeS: o.lifetimeS } : {}),
        ...(o.claims ? { claims: o.claims } : {}),
        ...(o.kid ? { kid: o.kid } : {}),
      })
    },
    /** A client-credentials token for an app registration. */
    issueAppToken(o: AppTokenOptions): Promise<IssuedToken> {
      const tenant = world.tenant(o.tenant)
      const app = o.app ? world.findApp(tenant, o.app) : tenant.apps[0]
      if (!app)
        throw new Error(`tenant ${tenant.name} has no app ${JSON.stringify(o.app ?? '(any)')}`)
      return issueAppToken(keys, app, o.resource ?? ARM_RESOURCE, o.now ?? now())
    },
  }
}

export function createDocumentHelpers(world: World, pki: Pki, now: () => Date) {
  return {
    /** A document as IMDS would sign it for the VM; every field and the signer can be overridden. */
    signAttestedDocument(o: DocumentOptions = {}): AttestedDocument {
      const vm = o.vm === undefined ? undefined : world.vm(o.vm)
      const vmId = o.vmId ?? vm?.vmId
      const subscriptionId = o.subscriptionId ?? vm?.resourceGroup.subscription.subscriptionId
      if (!vmId || !subscriptionId)
        throw new Error('signAttestedDocument needs vm, or vmId and subscriptionId')
      const signer =
        o.signer ??
        (vm
          ? pki.leafFor(vm.resourceGroup.subscription.tenant.cloud.name, vm.location)
          : pki.leaves.public)
      const { vm: _vm, ...rest } = o
      return signAttestedDocument({
        ...rest,
        vmId,
        subscriptionId,
        signer,
        now: o.now ?? now(),
        ...(vm && o.plan === undefined ? { plan: vm.plan } : {}),
        ...(vm && o.licenseType === undefined ? { licenseType: vm.licenseType } : {}),
        ...(vm && o.sku === undefined ? { sku: vm.sku } : {}),
      })
    },
  }
}
