import type { ArmClient } from '../../shared/azure/arm.js'
import type { ArmRest } from '../../shared/azure/arm-rest.js'
import {
  getNetworkInterface,
  getScaleSetVm,
  getVirtualMachine,
} from '../../shared/azure/arm-rest-reads.js'
import type { GatedCall } from '../../shared/azure/call-gate.js'
import {
  queryResourceGraph,
  scaleSetVmByVmIdQuery,
  virtualMachineByVmIdQuery,
} from '../../shared/azure/resource-graph.js'
import { getSubscriptionTenant, type SubscriptionTenant } from '../../shared/azure/subscriptions.js'

/**
 * Every Azure read the azure_imds server makes for one tenant's credential. Each lookup costs a
 * constant number of requests, whatever the size of the scale set the VM belongs to.
 */
export interface ImdsAzure extends Pick<
  ArmClient,
  'getVirtualMachine' | 'getScaleSetVm' | 'getNetworkInterface'
> {
  /** ARM IDs of VMs (standalone or Flexible members) with this vmId: one Resource Graph query. */
  findVirtualMachines(subscriptionId: string, vmId: string, signal?: AbortSignal): Promise<string[]>
  /** ARM IDs of Uniform scale-set instances with this vmId: one Resource Graph query. */
  findScaleSetVms(subscriptionId: string, vmId: string, signal?: AbortSignal): Promise<string[]>
  /** `GET /subscriptions/{id}` as this tenant's credential sees it. */
  subscriptionTenant(subscriptionId: string, signal?: AbortSignal): Promise<SubscriptionTenant>
}

/** Thrown inside the gate for an empty result, so "not found (yet)" is never cached. */
class NoRows extends Error {}

/**
 * `ImdsAzure` over ARM REST: the compute and network GETs through `reads` (short cache), Resource
 * Graph and subscriptions through `lookups` (long cache; their answers do not change for a VM).
 * Each gate coalesces, retries and honours Retry-After. Only non-empty Resource Graph results are
 * cached: a VM that Resource Graph has not indexed yet is looked up again on the next attestation.
 */
export function createImdsAzure(parts: {
  rest: ArmRest
  reads: GatedCall
  lookups: GatedCall
}): ImdsAzure {
  const { rest, reads, lookups: gate } = parts
  const ids = async (
    op: string,
    sub: string,
    query: string,
    signal: AbortSignal | undefined,
  ): Promise<string[]> => {
    try {
      return await gate(
        op,
        `${sub}|${query}`,
        async (s) => {
          const rows = await queryResourceGraph(rest, { subscriptions: [sub], query }, s)
          const found = rows
            .map((r) => (typeof r['id'] === 'string' ? r['id'] : ''))
            .filter((id) => id !== '')
          if (found.length === 0) throw new NoRows()
          return found
        },
        signal,
      )
    } catch (err) {
      if (err instanceof NoRows) return []
      throw err
    }
  }
  return {
    findVirtualMachines: (sub, vmId, signal) =>
      ids('graph-vm', sub, virtualMachineByVmIdQuery(vmId), signal),
    findScaleSetVms: (sub, vmId, signal) =>
      ids('graph-vmss-vm', sub, scaleSetVmByVmIdQuery(vmId), signal),
    subscriptionTenant: (sub, signal) =>
      gate('subscription', sub, (s) => getSubscriptionTenant(rest, sub, s), signal),
    getVirtualMachine: (sub, rg, name, signal) =>
      reads('vm', `${sub}|${rg}|${name}`, (s) => getVirtualMachine(rest, sub, rg, name, s), signal),
    getScaleSetVm: (sub, rg, ss, instanceId, signal) =>
      reads(
        'vmss-vm',
        `${sub}|${rg}|${ss}|${instanceId}`,
        (s) => getScaleSetVm(rest, sub, rg, ss, instanceId, s),
        signal,
      ),
    getNetworkInterface: (sub, rg, name, signal) =>
      reads(
        'nic',
        `${sub}|${rg}|${name}`,
        (s) => getNetworkInterface(rest, sub, rg, name, s),
        signal,
      ),
  }
}

/** An ImdsAzure made on first use (credentials and SDK modules load lazily). */
export function lazyImdsAzure(make: () => Promise<ImdsAzure>): ImdsAzure {
  let inner: Promise<ImdsAzure> | undefined
  const get = (): Promise<ImdsAzure> => {
    inner ??= make().catch((err: unknown) => {
      inner = undefined
      throw err
    })
    return inner
  }
  return {
    findVirtualMachines: async (...a) => (await get()).findVirtualMachines(...a),
    findScaleSetVms: async (...a) => (await get()).findScaleSetVms(...a),
    subscriptionTenant: async (...a) => (await get()).subscriptionTenant(...a),
    getVirtualMachine: async (...a) => (await get()).getVirtualMachine(...a),
    getScaleSetVm: async (...a) => (await get()).getScaleSetVm(...a),
    getNetworkInterface: async (...a) => (await get()).getNetworkInterface(...a),
  }
}
