/**
 * `spire-azure selectors`, the work between parsing and printing: find the VM the operator named
 * (resource ID as given; vmId through Resource Graph; system-assigned principal through ARM's
 * list-by-principal, as azure_msi does), pick each attestor's tenant config, and run the plugins'
 * own previews (preview.ts of each server plugin) with the plugins' own dependencies.
 */
import type { ArmClient } from '../azure/arm.js'
import { parseArmId } from '../azure/resource-id.js'
import { errorMessage, isPluginError } from '../plugin/index.js'
import type { ImdsAzure } from '../../server-plugin/azure-imds/azure.js'
import type {
  ImdsServerConfig,
  TenantConfig as ImdsTenant,
} from '../../server-plugin/azure-imds/config.js'
import type { Deps as ImdsDeps } from '../../server-plugin/azure-imds/deps.js'
import {
  imdsTenantCandidates,
  previewImds,
  type ImdsPreview,
} from '../../server-plugin/azure-imds/preview.js'
import { authorizeTenant as imdsTenantByHint } from '../../server-plugin/azure-imds/tenants.js'
import type {
  MsiServerConfig,
  TenantConfig as MsiTenant,
} from '../../server-plugin/azure-msi/config.js'
import type { Deps as MsiDeps } from '../../server-plugin/azure-msi/deps.js'
import {
  msiTenantCandidates,
  previewMsi,
  type MsiPreview,
} from '../../server-plugin/azure-msi/preview.js'
import { CliError, UsageError } from './command.js'

/** One of our attestors as a server config enables it. */
export type AttestorConfig =
  | { plugin: 'azure_msi'; name: string; config: MsiServerConfig }
  | { plugin: 'azure_imds'; name: string; config: ImdsServerConfig }

/** How the operator named the VM. */
export type VmRef =
  | { by: 'resource-id'; resourceId: string }
  | { by: 'vm-id'; vmId: string; subscriptionId: string }
  | { by: 'principal'; principalId: string; subscriptionId: string | undefined }

export interface SelectorsRequest {
  vm: VmRef
  /** Which managed identity azure_msi's agent uses (default: as IMDS picks). */
  identity?: { principalId: string } | { userAssigned: string }
  /** A tenant by ID (azure_msi) or by key or ID (azure_imds), when the subscription is not enough. */
  tenant?: string
}

export interface RunDeps {
  msi: Pick<MsiDeps, 'armFor' | 'serverSubscription' | 'now'>
  imds: Pick<ImdsDeps, 'azureFor' | 'tenantId'>
  /** Runs one slow step, saying on stderr what it waits for (withProgress). */
  step<T>(label: string, work: () => Promise<T>): Promise<T>
}

export type AttestorOutcome =
  | { plugin: 'azure_msi'; name: string; preview: MsiPreview }
  | { plugin: 'azure_imds'; name: string; preview: ImdsPreview }
  | { plugin: AttestorConfig['plugin']; name: string; error: OutcomeError }

export interface OutcomeError {
  message: string
  /** Set when the server would refuse the agent: its gRPC status and our failure reason. */
  status?: string
  reason?: string
}

export interface SelectorsResult {
  vm: { resourceId: string; subscriptionId: string; foundBy: VmRef['by'] }
  outcomes: AttestorOutcome[]
}

/** Never lets an attestor's failure hide another's result; a VM nobody can find is a CliError. */
export async function runSelectors(
  attestors: readonly AttestorConfig[],
  req: SelectorsRequest,
  deps: RunDeps,
): Promise<SelectorsResult> {
  const resourceId = await locateVm(attestors, req, deps)
  const subscriptionId = parseArmId(resourceId)?.subscriptionId ?? ''
  const identity =
    req.identity ?? (req.vm.by === 'principal' ? { principalId: req.vm.principalId } : undefined)
  const outcomes: AttestorOutcome[] = []
  for (const a of attestors) {
    const label = `${a.name}: resolving the VM through Azure Resource Manager`
    try {
      if (a.plugin === 'azure_msi') {
        const tenant = pickMsiTenant(a.config, subscriptionId, req.tenant)
        const preview = await deps.step(label, () =>
          previewMsi(
            a.config,
            tenant,
            { resourceId, ...(identity === undefined ? {} : { identity }) },
            deps.msi,
          ),
        )
        outcomes.push({ plugin: a.plugin, name: a.name, preview })
      } else {
        const preview = await deps.step(label, async () => {
          const tenant = await pickImdsTenant(a.config, subscriptionId, deps, req.tenant)
          return previewImds(a.config, tenant, { resourceId }, deps.imds)
        })
        outcomes.push({ plugin: a.plugin, name: a.name, preview })
      }
    } catch (err) {
      if (err instanceof UsageError) throw err
      outcomes.push({ plugin: a.plugin, name: a.name, error: outcomeError(err) })
    }
  }
  if (
    outcomes.length > 0 &&
    outcomes.every((o) => 'error' in o && o.error.reason === 'vm_not_found')
  ) {
    throw new CliError(
      `virtual machine ${resourceId} not found`,
      "check the resource ID (a VM, or a Uniform instance …/virtualMachineScaleSets/<name>/virtualMachines/<n>), and that the tenant's credential may read it",
    )
  }
  return { vm: { resourceId, subscriptionId, foundBy: req.vm.by }, outcomes }
}

function outcomeError(err: unknown): OutcomeError {
  if (isPluginError(err)) return { message: err.message, status: err.status, reason: err.reason }
  return { message: errorMessage(err) }
}

/** The ARM ID of the VM the request names. */
async function locateVm(
  attestors: readonly AttestorConfig[],
  req: SelectorsRequest,
  deps: RunDeps,
): Promise<string> {
  const vm = req.vm
  switch (vm.by) {
    case 'resource-id':
      return vm.resourceId
    case 'vm-id': {
      const azure = await graphReader(attestors, vm.subscriptionId, deps, req.tenant)
      const ids = await deps.step('looking the vmId up in Azure Resource Graph', async () => {
        try {
          const vms = await azure.findVirtualMachines(vm.subscriptionId, vm.vmId)
          return vms.length > 0 ? vms : await azure.findScaleSetVms(vm.subscriptionId, vm.vmId)
        } catch (err) {
          throw new CliError(
            `unable to look up vmId ${vm.vmId}: ${errorMessage(err)}`,
            "the tenant's credential needs Reader on the subscription for Resource Graph",
          )
        }
      })
      return single(
        ids,
        `no virtual machine has vmId ${vm.vmId} in subscription ${vm.subscriptionId}`,
        'check --vm-id and --subscription; Resource Graph can take a few minutes to index a new VM',
      )
    }
    case 'principal': {
      const tries = await principalScopes(attestors, vm.subscriptionId, deps, req.tenant)
      const found: string[] = []
      for (const { subscriptionId, arm } of tries) {
        const ids = await deps.step(
          `listing the VMs of principal ${vm.principalId} in subscription ${subscriptionId}`,
          () =>
            arm.listVirtualMachinesByPrincipal(subscriptionId, vm.principalId).catch((err) => {
              throw new CliError(
                `unable to list the VMs of principal ${vm.principalId}: ${errorMessage(err)}`,
                "the tenant's credential needs Reader on the subscription",
              )
            }),
        )
        found.push(...ids)
      }
      return single(
        found,
        `no virtual machine has the system-assigned identity ${vm.principalId} in subscription ${tries.map((t) => t.subscriptionId).join(', ')}`,
        'for a user-assigned identity, name the VM (--resource-id, or --vm-id with --subscription) and the identity (--identity)',
      )
    }
  }
}

function single(ids: readonly string[], none: string, hint: string): string {
  const unique = [...new Map(ids.map((id) => [id.toLowerCase(), id])).values()]
  if (unique.length === 0) throw new CliError(none, hint)
  if (unique.length > 1)
    throw new CliError(
      `more than one virtual machine matches: ${unique.join(', ')}`,
      'name the VM with --resource-id',
    )
  return unique[0]!
}

/** Resource Graph through the tenant that covers the subscription (azure_imds's, else azure_msi's). */
async function graphReader(
  attestors: readonly AttestorConfig[],
  subscriptionId: string,
  deps: RunDeps,
  wanted: string | undefined,
): Promise<ImdsAzure> {
  for (const a of attestors) {
    if (a.plugin !== 'azure_imds') continue
    return deps.imds.azureFor(await pickImdsTenant(a.config, subscriptionId, deps, wanted))
  }
  for (const a of attestors) {
    if (a.plugin !== 'azure_msi') continue
    return deps.imds.azureFor(imdsShaped(pickMsiTenant(a.config, subscriptionId, wanted)))
  }
  throw new CliError('no azure_msi or azure_imds attestor in the configuration')
}

/** Where a system-assigned principal is looked for, and with which tenant's ARM client. */
async function principalScopes(
  attestors: readonly AttestorConfig[],
  subscriptionId: string | undefined,
  deps: RunDeps,
  wanted: string | undefined,
): Promise<{ subscriptionId: string; arm: ArmClient }[]> {
  const msi = attestors.find((a) => a.plugin === 'azure_msi')
  if (subscriptionId !== undefined) {
    if (msi !== undefined)
      return [
        { subscriptionId, arm: deps.msi.armFor(pickMsiTenant(msi.config, subscriptionId, wanted)) },
      ]
    const imds = attestors.find((a) => a.plugin === 'azure_imds')
    if (imds === undefined)
      throw new CliError('no azure_msi or azure_imds attestor in the configuration')
    const tenant = await pickImdsTenant(imds.config, subscriptionId, deps, wanted)
    const tenantId = await deps.imds.tenantId(tenant)
    return [{ subscriptionId, arm: deps.msi.armFor(msiShaped(tenant, tenantId)) }]
  }
  const tenants =
    msi === undefined
      ? []
      : [...msi.config.tenants.values()].filter(
          (t) =>
            t.subscriptionId !== undefined &&
            (wanted === undefined || t.tenantId === wanted.toLowerCase()),
        )
  if (tenants.length === 0) {
    throw new UsageError(
      '--principal needs --subscription (no azure_msi tenant sets subscription_id)',
      "add --subscription <id>; see 'spire-azure selectors --help'",
    )
  }
  return tenants.map((t) => ({ subscriptionId: t.subscriptionId!, arm: deps.msi.armFor(t) }))
}

function pickMsiTenant(
  config: MsiServerConfig,
  subscriptionId: string,
  wanted: string | undefined,
): MsiTenant {
  if (wanted !== undefined) {
    const t = config.tenants.get(wanted.trim().toLowerCase())
    if (t === undefined) {
      throw new UsageError(
        `azure_msi has no tenant ${JSON.stringify(wanted)}`,
        `configured tenants: ${[...config.tenants.keys()].join(', ')}`,
      )
    }
    return t
  }
  return one(
    'azure_msi',
    subscriptionId,
    msiTenantCandidates(config, subscriptionId),
    (t) => t.tenantId,
  )
}

async function pickImdsTenant(
  config: ImdsServerConfig,
  subscriptionId: string,
  deps: Pick<RunDeps, 'imds'>,
  wanted: string | undefined,
): Promise<ImdsTenant> {
  if (wanted !== undefined) {
    try {
      return imdsTenantByHint(config, wanted)
    } catch {
      throw new UsageError(
        `azure_imds has no tenant ${JSON.stringify(wanted)}`,
        `configured tenants: ${config.tenants.map((t) => t.key).join(', ')}`,
      )
    }
  }
  return one(
    'azure_imds',
    subscriptionId,
    await imdsTenantCandidates(config, subscriptionId, deps.imds),
    (t) => t.key,
  )
}

function one<T>(
  plugin: string,
  subscriptionId: string,
  candidates: readonly T[],
  name: (t: T) => string,
): T {
  if (candidates.length === 1) return candidates[0]!
  if (candidates.length === 0) {
    throw new CliError(
      `no ${plugin} tenant covers subscription ${subscriptionId}`,
      'the server would refuse this VM: add its tenant (or the subscription) to the configuration',
    )
  }
  throw new UsageError(
    `several ${plugin} tenants could cover subscription ${subscriptionId}: ${candidates.map(name).join(', ')}`,
    'pick one with --tenant',
  )
}

/** An azure_msi tenant's credential, as azure_imds's deps take it (for Resource Graph). */
function imdsShaped(t: MsiTenant): ImdsTenant {
  return {
    key: t.tenantId,
    tenantId: t.tenantId,
    domain: undefined,
    cloud: t.cloud,
    endpoints: t.endpoints,
    credential: t.credential,
    allowedVmTags: new Set(),
    allowedSubscriptions: new Set(),
    clientKey: t.clientKey,
  }
}

/** An azure_imds tenant's credential, as azure_msi's deps take it (for the principal lookup). */
function msiShaped(t: ImdsTenant, tenantId: string): MsiTenant {
  return {
    tenantId,
    cloud: t.cloud,
    endpoints: t.endpoints,
    audiences: [t.cloud.armResourceId],
    principalIds: undefined,
    subscriptionId: undefined,
    credential: t.credential,
    clientKey: t.clientKey,
  }
}
