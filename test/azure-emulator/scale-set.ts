import { deriveHex, deriveMac, deriveUuid, ipv4Add, providerId, TYPES } from './ids.js'
import type { Nic, ResourceGroup, ScaleSet, Subnet, Nsg, Vm, VmIdentity } from './world-types.js'
import type { OrchestrationMode } from './world-spec.js'

export interface ScaleSetInit {
  seed: string
  name: string
  resourceGroup: ResourceGroup
  orchestrationMode: OrchestrationMode
  capacity: number
  location: string
  zones: readonly string[]
  tags: Readonly<Record<string, string>>
  vmSize: string
  osType: 'Linux' | 'Windows'
  computerNamePrefix: string
  identity: VmIdentity
  nicConfigurationName: string
  subnet: Subnet
  nsg?: Nsg
  attestedData: boolean
  /** Offset of the first instance's IP inside the subnet */
  ipOffset: number
}

/**
 * A scale set whose instances are derived from (seed, scale-set id, index) on first use, so a
 * 10,000-instance scale set costs one object until something asks for its members.
 */
export class LazyScaleSet implements ScaleSet {
  readonly id: string
  readonly uniqueId: string
  readonly name: string
  readonly resourceGroup: ResourceGroup
  readonly orchestrationMode: OrchestrationMode
  readonly capacity: number
  readonly location: string
  readonly zones: readonly string[]
  readonly tags: Readonly<Record<string, string>>
  readonly vmSize: string
  readonly osType: 'Linux' | 'Windows'
  readonly computerNamePrefix: string
  readonly identity: VmIdentity
  readonly nicConfigurationName: string
  readonly subnet: Subnet
  readonly nsg?: Nsg
  readonly attestedData: boolean
  readonly #seed: string
  readonly #ipOffset: number
  readonly #memo = new Map<number, Vm>()
  #flexNames?: Map<string, number>

  constructor(init: ScaleSetInit) {
    const sub = init.resourceGroup.subscription.subscriptionId
    this.id = providerId(sub, init.resourceGroup.name, TYPES.vmss, init.name)
    this.uniqueId = deriveUuid(init.seed, 'vmss-unique-id', this.id.toLowerCase())
    this.name = init.name
    this.resourceGroup = init.resourceGroup
    this.orchestrationMode = init.orchestrationMode
    this.capacity = init.capacity
    this.location = init.location
    this.zones = init.zones
    this.tags = init.tags
    this.vmSize = init.vmSize
    this.osType = init.osType
    this.computerNamePrefix = init.computerNamePrefix
    this.identity = init.identity
    this.nicConfigurationName = init.nicConfigurationName
    this.subnet = init.subnet
    if (init.nsg) this.nsg = init.nsg
    this.attestedData = init.attestedData
    this.#seed = init.seed
    this.#ipOffset = init.ipOffset
  }

  get derivedCount(): number {
    return this.#memo.size
  }

  instance(index: number): Vm {
    if (!Number.isInteger(index) || index < 0 || index >= this.capacity) {
      throw new RangeError(`scale set ${this.name} has no instance ${index}`)
    }
    let vm = this.#memo.get(index)
    if (!vm) {
      vm = this.orchestrationMode === 'Uniform' ? this.#uniform(index) : this.#flexible(index)
      this.#memo.set(index, vm)
    }
    return vm
  }

  instanceByName(nameOrInstanceId: string): Vm | undefined {
    if (this.orchestrationMode === 'Uniform') {
      const id = /^\d+$/.test(nameOrInstanceId)
        ? Number(nameOrInstanceId)
        : Number(nameOrInstanceId.toLowerCase().replace(`${this.name.toLowerCase()}_`, ''))
      return Number.isInteger(id) && id >= 0 && id < this.capacity ? this.instance(id) : undefined
    }
    if (!this.#flexNames) {
      this.#flexNames = new Map()
      for (let i = 0; i < this.capacity; i++)
        this.#flexNames.set(this.#flexName(i).toLowerCase(), i)
    }
    const index = this.#flexNames.get(nameOrInstanceId.toLowerCase())
    return index === undefined ? undefined : this.instance(index)
  }

  *instances(): IterableIterator<Vm> {
    for (let i = 0; i < this.capacity; i++) yield this.instance(i)
  }

  #flexName(index: number): string {
    return `${this.name}_${deriveHex(8, this.#seed, 'flex-name', this.id.toLowerCase(), String(index))}`
  }

  #common(index: number, id: string) {
    const zone = this.zones.length > 0 ? this.zones[index % this.zones.length] : undefined
    return {
      vmId: deriveUuid(this.#seed, 'vm-id', id.toLowerCase()),
      computerName: `${this.computerNamePrefix}${index.toString(36).padStart(6, '0')}`,
      location: this.location,
      ...(zone === undefined ? {} : { zone }),
      tags: this.tags,
      vmSize: this.vmSize,
      osType: this.osType,
      resourceGroup: this.resourceGroup,
      scaleSet: this,
      attestedData: this.attestedData,
      licenseType: '',
      plan: { name: '', product: '', publisher: '' },
      sku: '',
      userData: '',
    }
  }

  #nic(index: number, id: string, name: string, attachedTo: string, scaleSetNic: boolean): Nic {
    return {
      id,
      name,
      resourceGroup: this.resourceGroup,
      location: this.location,
      primary: true,
      privateIp: ipv4Add(this.subnet.addressPrefix, this.#ipOffset + index),
      macAddress: deriveMac(this.#seed, id.toLowerCase()),
      subnet: this.subnet,
      ...(this.nsg ? { nsg: this.nsg } : {}),
      ipConfigurationName: `${this.nicConfigurationName}-ipconfig`,
      attachedTo,
      scaleSetNic,
    }
  }

  #uniform(index: number): Vm {
    const instanceId = String(index)
    const id = `${this.id}/virtualMachines/${instanceId}`
    const nicId = `${id}/networkInterfaces/${this.nicConfigurationName}`
    return {
      key: `${this.resourceGroup.name}/${this.name}/${index}`,
      kind: 'uniform-instance',
      id,
      name: `${this.name}_${instanceId}`,
      instanceId,
      ...this.#common(index, id),
      identity: this.identity,
      systemIdentityResourceId: this.id,
      networkInterfaces: [this.#nic(index, nicId, this.nicConfigurationName, id, true)],
    }
  }

  #flexible(index: number): Vm {
    const name = this.#flexName(index)
    const sub = this.resourceGroup.subscription.subscriptionId
    const id = providerId(sub, this.resourceGroup.name, TYPES.vm, name)
    const nicName = `${name}-${this.nicConfigurationName}`
    const nicId = providerId(sub, this.resourceGroup.name, TYPES.nic, nicName)
    const identity: VmIdentity = {
      userAssigned: this.identity.userAssigned,
      ...(this.identity.system
        ? {
            system: {
              principalId: deriveUuid(this.#seed, 'principal', id.toLowerCase()),
              clientId: deriveUuid(this.#seed, 'appid', id.toLowerCase()),
            },
          }
        : {}),
    }
    return {
      key: `${this.resourceGroup.name}/${this.name}/${index}`,
      kind: 'flexible-instance',
      id,
      name,
      ...this.#common(index, id),
      identity,
      systemIdentityResourceId: id,
      networkInterfaces: [this.#nic(index, nicId, nicName, id, false)],
    }
  }
}
