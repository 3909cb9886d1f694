// Fakes and builders for azure_imds server tests that run the attestor in-process.
import type { ArmNic, ArmNicConfig, ArmVm } from '../../shared/azure/arm.js'
import { ArmError } from '../../shared/azure/arm.js'
import { encodeImdsPayload, type ImdsUntrustedMetadata } from '../../shared/azure/imds-payload.js'
import type { SubscriptionTenant } from '../../shared/azure/subscriptions.js'
import { NOOP_LOGGER, NOOP_METRICS, Report, type AttestIo } from '../../shared/plugin/index.js'
import type { ImdsAzure } from '../../server-plugin/azure-imds/azure.js'
import { buildConfig, type ImdsServerConfig } from '../../server-plugin/azure-imds/config.js'
import type { Deps } from '../../server-plugin/azure-imds/deps.js'
import { NonceRegistry } from '../../server-plugin/azure-imds/nonce.js'
import type { AttestedDocument } from '../../server-plugin/azure-imds/document.js'
import { FakeAgentStore } from './azure-fakes.js'

export const TRUST_DOMAIN = 'example.org'
export const TENANT_DOMAIN = 'contoso.onmicrosoft.com'
export const TENANT_ID = '0a1b2c3d-1111-2222-3333-444455556666'
export const OTHER_TENANT_ID = '9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff'

export const ids = {
  vm: (sub: string, rg: string, name: string) =>
    `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`,
  vmss: (sub: string, rg: string, name: string) =>
    `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`,
  nic: (sub: string, rg: string, name: string) =>
    `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/networkInterfaces/${name}`,
  nsg: (sub: string, rg: string, name: string) =>
    `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/networkSecurityGroups/${name}`,
  subnet: (sub: string, rg: string, vnet: string, name: string) =>
    `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${vnet}/subnets/${name}`,
}

/** A map-backed ImdsAzure; every call is recorded as `op <key>`. */
export class FakeImdsAzure implements ImdsAzure {
  readonly calls: string[] = []
  readonly vms = new Map<string, ArmVm>()
  readonly scaleSetVms = new Map<string, ArmVm>()
  readonly nics = new Map<string, ArmNic>()
  /** subscription → home tenant; absent: not visible to this credential. */
  readonly subscriptions = new Map<string, string>()
  readonly fail = new Map<string, Error>()

  addVm(v: {
    sub: string
    rg: string
    name: string
    vmId: string
    location?: string
    tags?: Record<string, string>
    nics?: ArmNicConfig[]
    scaleSetId?: string
  }): ArmVm {
    const nicIds = (v.nics ?? []).map((n, i) => {
      const id = ids.nic(v.sub, v.rg, `${v.name}-nic${i}`)
      this.nics.set(id.toLowerCase(), { id, nsgId: n.nsgId, subnetIds: n.subnetIds })
      return id
    })
    const vm: ArmVm = {
      id: ids.vm(v.sub, v.rg, v.name),
      name: v.name,
      location: v.location ?? 'eastus',
      tags: v.tags ?? {},
      vmId: v.vmId,
      identity: { principalId: undefined, userAssigned: [] },
      nicIds,
      nicConfigs: [],
      scaleSetId: v.scaleSetId,
    }
    this.vms.set(vm.id.toLowerCase(), vm)
    return vm
  }

  addScaleSetVm(v: {
    sub: string
    rg: string
    scaleSet: string
    instanceId: string
    vmId: string
    tags?: Record<string, string>
    nics?: ArmNicConfig[]
  }): ArmVm {
    const ss = ids.vmss(v.sub, v.rg, v.scaleSet)
    const vm: ArmVm = {
      id: `${ss}/virtualMachines/${v.instanceId}`,
      name: `${v.scaleSet}_${v.instanceId}`,
      location: 'westeurope',
      tags: v.tags ?? {},
      vmId: v.vmId,
      identity: { principalId: undefined, userAssigned: [] },
      nicIds: [],
      nicConfigs: v.nics ?? [],
      scaleSetId: ss,
    }
    this.scaleSetVms.set(vm.id.toLowerCase(), vm)
    return vm
  }

  #record(op: string, key: string): void {
    this.calls.push(`${op} ${key}`)
    const f = this.fail.get(op)
    if (f !== undefined) throw f
  }

  #get<T>(op: string, key: string, map: Map<string, T>): T {
    this.#record(op, key)
    const v = map.get(key.toLowerCase())
    if (v === undefined)
      throw new ArmError(`404 ResourceNotFound: ${key} was not found`, {
        status: 404,
        code: 'ResourceNotFound',
      })
    return v
  }

  async findVirtualMachines(sub: string, vmId: string): Promise<string[]> {
    this.#record('graph-vm', vmId)
    return [...this.vms.values()]
      .filter((v) => v.vmId === vmId && v.id.toLowerCase().includes(sub.toLowerCase()))
      .map((v) => v.id)
  }
  async findScaleSetVms(sub: string, vmId: string): Promise<string[]> {
    this.#record('graph-vmss-vm', vmId)
    return [...this.scaleSetVms.values()]
      .filter((v) => v.vmId === vmId && v.id.toLowerCase().includes(sub.toLowerCase()))
      .map((v) => v.id)
  }
  async subscriptionTenant(sub: string): Promise<SubscriptionTenant> {
    this.#record('subscription', sub)
    const tid = this.subscriptions.get(sub.toLowerCase())
    return tid === undefined
      ? { visible: false, why: '404 SubscriptionNotFound' }
      : { visible: true, tenantId: tid }
  }
  async getVirtualMachine(sub: string, rg: string, name: string): Promise<ArmVm> {
    return this.#get('vm', ids.vm(sub, rg, name), this.vms)
  }
  async getScaleSetVm(sub: string, rg: string, ss: string, instanceId: string): Promise<ArmVm> {
    return this.#get(
      'vmss-vm',
      `${ids.vmss(sub, rg, ss)}/virtualMachines/${instanceId}`,
      this.scaleSetVms,
    )
  }
  async getNetworkInterface(sub: string, rg: string, name: string): Promise<ArmNic> {
    return this.#get('nic', ids.nic(sub, rg, name), this.nics)
  }
}

/** Builds a server config from HCL text, failing loudly on any error. */
export function serverConfig(hcl: string): ImdsServerConfig {
  const report = new Report()
  const config = buildConfig(hcl, { trustDomain: TRUST_DOMAIN }, report)
  if (config === undefined) throw new Error(`config errors: ${report.errors.join('; ')}`)
  return config
}

export interface TestDeps extends Deps {
  azure: FakeImdsAzure
  store: FakeAgentStore
}

export function imdsTestDeps(
  parts: Pick<Deps, 'now' | 'roots' | 'intermediates'> & Partial<Deps>,
): TestDeps {
  const azure = new FakeImdsAzure()
  const store = new FakeAgentStore()
  return {
    nonces: new NonceRegistry({ now: parts.now }),
    tenantId: async (t) => t.tenantId ?? TENANT_ID,
    azureFor: () => azure,
    agentStore: store,
    log: NOOP_LOGGER,
    metrics: NOOP_METRICS,
    ...parts,
    azure,
    store,
  }
}

/** An io whose agent answers the nonce challenge with `answer(nonce)`; records the challenges. */
export function agentIo(answer: (nonce: string) => Uint8Array | Promise<Uint8Array>) {
  const challenges: string[] = []
  const io: AttestIo = {
    signal: new AbortController().signal,
    metadata: {},
    async challenge(data) {
      const nonce = Buffer.from(data).toString('latin1')
      challenges.push(nonce)
      return answer(nonce)
    },
  }
  return { io, challenges }
}

export function payloadOf(
  document: AttestedDocument,
  metadata: Partial<ImdsUntrustedMetadata> = {},
): Uint8Array {
  return encodeImdsPayload({
    document,
    metadata: { agentDomain: TENANT_DOMAIN, vmssName: null, resourceId: null, ...metadata },
  })
}
