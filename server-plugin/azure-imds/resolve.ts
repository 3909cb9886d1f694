import { ArmError, type ArmNicConfig, type ArmVm } from '../../shared/azure/arm.js'
import { parseArmId, parseArmIdOf, type ArmId } from '../../shared/azure/resource-id.js'
import { azureFailureStatus } from '../../shared/azure/transient.js'
import { PluginError } from '../../shared/plugin/index.js'
import type { ImdsAzure } from './azure.js'

/** What the selectors are built from. Everything here was read from ARM, never from the agent. */
export interface ComputeFacts {
  id: string
  name: string
  location: string
  /** Lower-cased: Resource Graph lower-cases it, so one rule keeps selectors stable. */
  resourceGroup: string
  /** The scale set a Uniform instance or Flexible member belongs to. */
  scaleSetName: string | undefined
  tags: Readonly<Record<string, string>>
  nics: readonly ArmNicConfig[]
  /** How the VM was found: by the agent's resource ID hint, or by vmId in Resource Graph. */
  foundBy: 'resource-id-hint' | 'resource-graph'
}

export interface ResolveInput {
  /** Signed: from the attested document. */
  subscriptionId: string
  vmId: string
  /** Unsigned hints from the agent. */
  untrustedVmssName: string | null
  untrustedResourceId: string | null
}

/**
 * Finds the attested VM with a constant number of ARM reads, whatever the size of its scale set:
 * - our agent's `resourceId` hint: one GET of that VM or Uniform instance, accepted only when
 *   ARM's `vmId` for it equals the signed one;
 * - otherwise one Resource Graph query by vmId for VMs (standalone and Flexible members) and, for
 *   an agent in a scale set, one for Uniform instances, then one GET of the match.
 * Then one GET per NIC of a VM; a Uniform instance carries its NIC configuration. Same-named scale
 * sets in different resource groups cannot be confused: nothing is looked up by name.
 */
export async function resolveCompute(
  azure: ImdsAzure,
  input: ResolveInput,
  signal?: AbortSignal,
): Promise<ComputeFacts> {
  if (input.untrustedVmssName !== null) checkScaleSetName(input.untrustedVmssName)
  const target =
    input.untrustedResourceId !== null ? hintTarget(input) : await graphTarget(azure, input, signal)
  const vm = await readVm(azure, target, signal)
  if ((vm.vmId ?? '').toLowerCase() !== input.vmId.toLowerCase()) {
    throw new PluginError(
      'PermissionDenied',
      'resource_id_mismatch',
      `resource ${JSON.stringify(vm.id)} is not the attested VM ${JSON.stringify(input.vmId)}`,
    )
  }
  const nics = target.kind === 'vm' ? await readNics(azure, vm, signal) : vm.nicConfigs
  const scaleSetName =
    target.kind === 'vmss-vm'
      ? target.scaleSet
      : vm.scaleSetId === undefined
        ? undefined
        : parseArmIdOf(vm.scaleSetId, 'vmss')?.name
  return {
    id: vm.id,
    name: vm.name,
    location: vm.location ?? '',
    resourceGroup: target.resourceGroup.toLowerCase(),
    scaleSetName,
    tags: vm.tags,
    nics,
    foundBy: input.untrustedResourceId !== null ? 'resource-id-hint' : 'resource-graph',
  }
}

type Target = Extract<ArmId, { kind: 'vm' | 'vmss-vm' }>

function hintTarget(input: ResolveInput): Target {
  const hint = input.untrustedResourceId ?? ''
  const parsed = parseArmId(hint)
  if (parsed === undefined || (parsed.kind !== 'vm' && parsed.kind !== 'vmss-vm')) {
    throw new PluginError(
      'InvalidArgument',
      'invalid_resource_id',
      `invalid resource ID hint ${JSON.stringify(hint)}`,
    )
  }
  if (parsed.subscriptionId.toLowerCase() !== input.subscriptionId.toLowerCase()) {
    throw new PluginError(
      'InvalidArgument',
      'invalid_resource_id',
      `resource ID hint ${JSON.stringify(hint)} is not in subscription ${JSON.stringify(input.subscriptionId)}`,
    )
  }
  return parsed
}

async function graphTarget(
  azure: ImdsAzure,
  input: ResolveInput,
  signal: AbortSignal | undefined,
): Promise<Target> {
  let ids: string[]
  try {
    ids = await azure.findVirtualMachines(input.subscriptionId, input.vmId, signal)
    // Uniform instances live in another table; only an agent inside a scale set can be one
    if (ids.length === 0 && input.untrustedVmssName !== null) {
      ids = await azure.findScaleSetVms(input.subscriptionId, input.vmId, signal)
    }
  } catch (err) {
    throw armFailure('unable to get virtual machine', err)
  }
  // upstream parity: the two Resource Graph outcomes and their codes
  if (ids.length === 0) throw new PluginError('NotFound', 'vm_not_found', 'resource not found')
  if (ids.length > 1)
    throw new PluginError('Internal', 'vm_ambiguous', 'expected one result for resource at most')
  const parsed = parseArmId(ids[0] ?? '')
  if (parsed === undefined || (parsed.kind !== 'vm' && parsed.kind !== 'vmss-vm')) {
    throw new PluginError(
      'Internal',
      'malformed_vm_id',
      `malformed virtual machine ID ${JSON.stringify(ids[0])}`,
    )
  }
  return parsed
}

async function readVm(
  azure: ImdsAzure,
  t: Target,
  signal: AbortSignal | undefined,
): Promise<ArmVm> {
  try {
    return t.kind === 'vm'
      ? await azure.getVirtualMachine(t.subscriptionId, t.resourceGroup, t.name, signal)
      : await azure.getScaleSetVm(
          t.subscriptionId,
          t.resourceGroup,
          t.scaleSet,
          t.instanceId,
          signal,
        )
  } catch (err) {
    if (err instanceof ArmError && err.notFound)
      throw new PluginError('NotFound', 'vm_not_found', 'resource not found')
    throw armFailure('unable to get virtual machine', err)
  }
}

async function readNics(
  azure: ImdsAzure,
  vm: ArmVm,
  signal: AbortSignal | undefined,
): Promise<ArmNicConfig[]> {
  const out: ArmNicConfig[] = []
  for (const id of vm.nicIds) {
    const nic = parseArmIdOf(id, 'nic')
    if (nic === undefined) {
      throw new PluginError(
        'Internal',
        'malformed_nic_id',
        `malformed network interface ID ${JSON.stringify(id)}`,
      )
    }
    try {
      const n = await azure.getNetworkInterface(
        nic.subscriptionId,
        nic.resourceGroup,
        nic.name,
        signal,
      )
      out.push({ nsgId: n.nsgId, subnetIds: n.subnetIds })
    } catch (err) {
      throw armFailure('unable to get network interfaces', err)
    }
  }
  return out
}

function armFailure(prefix: string, err: unknown): PluginError {
  if (err instanceof PluginError) return err
  const message = err instanceof Error ? err.message : String(err)
  const throttled = err instanceof ArmError && err.status === 429
  // deviation: `Unavailable` when transient (5xx, 429, no answer); upstream: always `Internal`
  return new PluginError(
    azureFailureStatus(err),
    throttled ? 'arm_throttled' : 'arm_failed',
    `${prefix}: ${message}`,
    { cause: err },
  )
}

/** upstream parity: validateVMSSName, wording included (`invalid VMSS name: …`). */
export function checkScaleSetName(name: string): void {
  const fail = (why: string): never => {
    throw new PluginError('InvalidArgument', 'invalid_vmss_name', `invalid VMSS name: ${why}`)
  }
  const n = Buffer.byteLength(name)
  if (n < 1) fail(`VMSS name must be at least 1 character(s) long, got ${n}`)
  if (n > 64) fail(`VMSS name must be at most 64 characters long, got ${n}`)
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) {
    fail('VMSS name can only contain alphanumeric characters, underscores, periods, and hyphens')
  }
  if (!/^[a-zA-Z0-9]/.test(name)) fail('VMSS name must start with an alphanumeric character')
  if (!/[a-zA-Z0-9_]$/.test(name))
    fail('VMSS name must end with an alphanumeric character or an underscore')
}
