import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import type {
  ArmClient,
  ArmIdentity,
  ArmNic,
  ArmNicConfig,
  ArmScaleSet,
  ArmVm,
} from '../../shared/azure/arm.js'
import { ArmError } from '../../shared/azure/arm.js'
import type { KeySource } from '../../shared/azure/jwks.js'
import { KeySourceError } from '../../shared/azure/jwks.js'
import type { AgentStore } from '../../shared/plugin/index.js'

export const TENANT_ID = '0a1b2c3d-1111-2222-3333-444455556666'
export const OTHER_TENANT_ID = '9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff'
export const SUBSCRIPTION_ID = 'd5b40d61-272e-48da-beb9-05f295c42bd6'
export const PRINCIPAL_ID = 'b0f31bfd-1234-4321-abcd-0123456789ab'
export const UAMI_PRINCIPAL_ID = 'c1d2e3f4-5555-6666-7777-888899990000'
export const CLIENT_ID = 'ebdab26b-0000-1111-2222-333344445555'
export const NOW = new Date('2026-06-01T12:00:00.000Z')
export const NOW_S = Math.floor(NOW.getTime() / 1000)
export const ARM_AUD = 'https://management.azure.com/'
export const TRUST_DOMAIN = 'example.org'

export const vmId = (rg: string, name: string, sub = SUBSCRIPTION_ID): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`
export const vmssId = (rg: string, name: string, sub = SUBSCRIPTION_ID): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`
export const uamiId = (rg: string, name: string, sub = SUBSCRIPTION_ID): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`
export const nicId = (rg: string, name: string, sub = SUBSCRIPTION_ID): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/networkInterfaces/${name}`
export const nsgId = (rg: string, name: string, sub = SUBSCRIPTION_ID): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/networkSecurityGroups/${name}`
export const subnetId = (rg: string, vnet: string, name: string, sub = SUBSCRIPTION_ID): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${vnet}/subnets/${name}`

/** A signing key with its public JWK, for tokens signed in the test (real crypto). */
export class TestSigner {
  private constructor(
    readonly kid: string,
    readonly alg: string,
    private readonly privateKey: Parameters<SignJWT['sign']>[0],
    readonly jwk: JWK,
  ) {}

  static async create(kid = 'test-key-1', alg = 'RS256'): Promise<TestSigner> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
    const jwk = { ...(await exportJWK(publicKey)), kid, use: 'sig' }
    return new TestSigner(kid, alg, privateKey, jwk)
  }

  /** Signs claims; `header` overrides (e.g. `{ kid: undefined }` removes the kid). */
  sign(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    const h: Record<string, unknown> = { typ: 'JWT', alg: this.alg, kid: this.kid, ...header }
    for (const [k, v] of Object.entries(h)) if (v === undefined) delete h[k]
    return new SignJWT(claims).setProtectedHeader(h as { alg: string }).sign(this.privateKey)
  }
}

/** Realistic v1 MSI token claims (azure-facts §6.2); `undefined` in overrides removes a claim. */
export function msiClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const c: Record<string, unknown> = {
    aud: ARM_AUD,
    iss: `https://sts.windows.net/${TENANT_ID}/`,
    iat: NOW_S - 300,
    nbf: NOW_S - 300,
    exp: NOW_S + 86_400,
    appid: CLIENT_ID,
    appidacr: '2',
    idp: `https://sts.windows.net/${TENANT_ID}/`,
    idtyp: 'app',
    oid: PRINCIPAL_ID,
    sub: PRINCIPAL_ID,
    tid: TENANT_ID,
    ver: '1.0',
    xms_mirid: vmId('frontend', 'blog').replace('/resourceGroups/', '/resourcegroups/'),
    ...overrides,
  }
  for (const [k, v] of Object.entries(c)) if (v === undefined) delete c[k]
  return c
}

/** Keys by kid, per discovery URL or for all; records lookups. */
export class FakeKeySource implements KeySource {
  readonly keys = new Map<string, JWK[]>()
  readonly lookups: { url: string; kid: string }[] = []
  failWith: string | undefined

  add(...jwks: JWK[]): this {
    for (const k of jwks) this.keys.set(k.kid ?? '', [...(this.keys.get(k.kid ?? '') ?? []), k])
    return this
  }

  async keysFor(url: string, kid: string): Promise<readonly JWK[]> {
    this.lookups.push({ url, kid })
    if (this.failWith !== undefined) throw new KeySourceError(this.failWith)
    return this.keys.get(kid) ?? []
  }
}

export class FakeAgentStore implements AgentStore {
  readonly attested = new Set<string>()
  readonly calls: string[] = []
  async isAttested(agentId: string): Promise<boolean> {
    this.calls.push(agentId)
    return this.attested.has(agentId)
  }
}

/** A user-assigned identity as ARM lists it on a VM or scale set (client ID unknown by default). */
export interface FakeUami {
  id: string
  principalId: string
  clientId?: string
}

export interface FakeVmSpec {
  rg: string
  name: string
  sub?: string
  principalId?: string
  uamis?: FakeUami[]
  location?: string
  tags?: Record<string, string>
  nics?: { name: string; nsg?: string; subnets?: string[] }[]
  scaleSetId?: string
}

/** A map-backed ArmClient; every call is recorded as `op rg/name`. */
export class FakeArm implements ArmClient {
  readonly calls: string[] = []
  readonly vms = new Map<string, ArmVm>()
  readonly scaleSets = new Map<string, ArmScaleSet>()
  readonly scaleSetVms = new Map<string, ArmVm>()
  readonly nics = new Map<string, ArmNic>()
  readonly fail = new Map<string, Error>()

  addVm(spec: FakeVmSpec): ArmVm {
    const sub = spec.sub ?? SUBSCRIPTION_ID
    const nicIds: string[] = []
    for (const n of spec.nics ?? []) {
      const id = nicId(spec.rg, n.name, sub)
      nicIds.push(id)
      this.nics.set(id.toLowerCase(), { id, nsgId: n.nsg, subnetIds: n.subnets ?? [] })
    }
    const vm: ArmVm = {
      id: vmId(spec.rg, spec.name, sub),
      name: spec.name,
      location: spec.location ?? 'eastus',
      tags: spec.tags ?? {},
      vmId: '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
      identity: identity(spec.principalId, spec.uamis),
      nicIds,
      nicConfigs: [],
      scaleSetId: spec.scaleSetId,
    }
    this.vms.set(vm.id.toLowerCase(), vm)
    return vm
  }

  addScaleSet(spec: {
    rg: string
    name: string
    principalId?: string
    uamis?: FakeUami[]
    nicConfigs?: ArmNicConfig[]
    tags?: Record<string, string>
  }): ArmScaleSet {
    const ss: ArmScaleSet = {
      id: vmssId(spec.rg, spec.name),
      name: spec.name,
      location: 'westeurope',
      tags: spec.tags ?? {},
      orchestrationMode: 'Uniform',
      identity: identity(spec.principalId, spec.uamis),
      nicConfigs: spec.nicConfigs ?? [],
    }
    this.scaleSets.set(ss.id.toLowerCase(), ss)
    return ss
  }

  addScaleSetVm(ss: ArmScaleSet, instanceId: string): ArmVm {
    const vm: ArmVm = {
      id: `${ss.id}/virtualMachines/${instanceId}`,
      name: `${ss.name}_${instanceId}`,
      location: ss.location,
      tags: ss.tags,
      vmId: undefined,
      identity: ss.identity,
      nicIds: [],
      nicConfigs: ss.nicConfigs,
      scaleSetId: ss.id,
    }
    this.scaleSetVms.set(vm.id.toLowerCase(), vm)
    return vm
  }

  #call<T>(op: string, key: string, map: Map<string, T>): T {
    this.calls.push(`${op} ${key}`)
    const f = this.fail.get(op)
    if (f !== undefined) throw f
    const v = map.get(key.toLowerCase())
    if (v === undefined)
      throw new ArmError(`404 ResourceNotFound: ${key} was not found`, {
        status: 404,
        code: 'ResourceNotFound',
      })
    return v
  }

  async getVirtualMachine(sub: string, rg: string, name: string): Promise<ArmVm> {
    return this.#call('vm', vmId(rg, name, sub), this.vms)
  }
  async getScaleSet(sub: string, rg: string, name: string): Promise<ArmScaleSet> {
    return this.#call('vmss', vmssId(rg, name, sub), this.scaleSets)
  }
  async getScaleSetVm(sub: string, rg: string, ss: string, instanceId: string): Promise<ArmVm> {
    return this.#call(
      'vmss-vm',
      `${vmssId(rg, ss, sub)}/virtualMachines/${instanceId}`,
      this.scaleSetVms,
    )
  }
  async getNetworkInterface(sub: string, rg: string, name: string): Promise<ArmNic> {
    return this.#call('nic', nicId(rg, name, sub), this.nics)
  }
  async listVirtualMachinesByPrincipal(sub: string, principalId: string): Promise<string[]> {
    this.calls.push(`by-principal ${sub} ${principalId}`)
    const f = this.fail.get('by-principal')
    if (f !== undefined) throw f
    return [...this.vms.values()]
      .filter(
        (v) =>
          v.identity.principalId === principalId &&
          v.id.toLowerCase().startsWith(`/subscriptions/${sub.toLowerCase()}/`),
      )
      .map((v) => v.id)
  }
}

function identity(principalId: string | undefined, uamis: FakeUami[] = []): ArmIdentity {
  return {
    principalId,
    userAssigned: uamis.map((u) => ({
      id: u.id,
      principalId: u.principalId,
      clientId: u.clientId,
    })),
  }
}
