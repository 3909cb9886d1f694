/**
 * The narrow Azure Resource Manager surface the attestors need for selectors, in our own shapes:
 * the REST client (`arm-rest-reads.ts` over `arm-rest.ts`), the caching/retrying wrapper (`arm-resilient.ts`) and the
 * tests' `FakeArm` all implement `ArmClient`. IDs are returned as ARM spells them.
 */
import { errorMessage, PluginError, type FailureReason } from '../plugin/index.js'
import { azureFailureStatus } from './transient.js'

export interface ArmUserAssignedIdentity {
  /** ARM ID of the user-assigned identity, as the key of `userAssignedIdentities`. */
  id: string
  principalId: string | undefined
  clientId: string | undefined
}

export interface ArmIdentity {
  /** System-assigned identity's principal (object) ID. */
  principalId: string | undefined
  userAssigned: readonly ArmUserAssignedIdentity[]
}

/** One NIC as a VM or scale-set model describes it: the NSG and the subnets of its IP configs. */
export interface ArmNicConfig {
  nsgId: string | undefined
  subnetIds: readonly string[]
}

export interface ArmVm {
  id: string
  name: string
  location: string | undefined
  tags: Readonly<Record<string, string>>
  vmId: string | undefined
  identity: ArmIdentity
  /** `networkProfile.networkInterfaces[].id` (standalone VMs and Flexible members). */
  nicIds: readonly string[]
  /** Uniform instances: `networkProfileConfiguration` instead of NIC resources. */
  nicConfigs: readonly ArmNicConfig[]
  /** `virtualMachineScaleSet.id` (Flexible members), or the parent scale set of a Uniform instance. */
  scaleSetId: string | undefined
}

export interface ArmScaleSet {
  id: string
  name: string
  location: string | undefined
  tags: Readonly<Record<string, string>>
  orchestrationMode: string | undefined
  identity: ArmIdentity
  /** `virtualMachineProfile.networkProfile.networkInterfaceConfigurations` */
  nicConfigs: readonly ArmNicConfig[]
}

export interface ArmNic {
  id: string
  nsgId: string | undefined
  subnetIds: readonly string[]
}

/** Every call takes the subscription explicitly; one client serves one tenant's credential. */
export interface ArmClient {
  getVirtualMachine(sub: string, rg: string, name: string, signal?: AbortSignal): Promise<ArmVm>
  getScaleSet(sub: string, rg: string, name: string, signal?: AbortSignal): Promise<ArmScaleSet>
  getScaleSetVm(
    sub: string,
    rg: string,
    scaleSet: string,
    instanceId: string,
    signal?: AbortSignal,
  ): Promise<ArmVm>
  getNetworkInterface(sub: string, rg: string, name: string, signal?: AbortSignal): Promise<ArmNic>
  /**
   * IDs of the virtual machines whose system-assigned identity is `principalId`
   * (`GET /subscriptions/{s}/resources?$filter=…identity/principalId eq '…'`, every page).
   */
  listVirtualMachinesByPrincipal(
    sub: string,
    principalId: string,
    signal?: AbortSignal,
  ): Promise<string[]>
}

/** A failed ARM call: an HTTP status with ARM's error code, or a transport failure (no status). */
export class ArmError extends Error {
  readonly status: number | undefined
  readonly code: string | undefined
  /** Retry-After (or x-ms-retry-after-ms) of a throttled or unavailable response. */
  readonly retryAfterMs: number | undefined

  constructor(
    message: string,
    details: { status?: number; code?: string; retryAfterMs?: number } = {},
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.name = 'ArmError'
    this.status = details.status
    this.code = details.code
    this.retryAfterMs = details.retryAfterMs
  }

  get notFound(): boolean {
    return this.status === 404
  }

  /** 408, 429 and 5xx, and transport failures: worth another attempt. */
  get transient(): boolean {
    const s = this.status
    return s === undefined || s === 408 || s === 429 || s >= 500
  }
}

/**
 * One ARM read a preview (`spire-azure selectors`) starts from: not found is the server's own
 * `vm_not_found`; any other failure is refused with the attestor's own ARM failure reason,
 * `Unavailable` when transient and `Internal` otherwise (as the attestors refuse it).
 */
export async function readOrRefuse<T>(
  read: () => Promise<T>,
  id: string,
  failure: FailureReason,
): Promise<T> {
  try {
    return await read()
  } catch (err) {
    if (err instanceof ArmError && err.notFound) {
      const message = `resource ${JSON.stringify(id)} not found in ARM`
      throw new PluginError('NotFound', 'vm_not_found', message, { cause: err })
    }
    const message = `unable to read ${JSON.stringify(id)}: ${errorMessage(err)}`
    throw new PluginError(azureFailureStatus(err), failure, message, { cause: err })
  }
}

/** `{"error":{"code","message"}}` → `404 ResourceNotFound: The Resource … was not found`. */
export function armErrorMessage(status: number, untrustedBody: unknown, fallback: string): string {
  const err = isRecord(untrustedBody) ? untrustedBody['error'] : undefined
  const code = isRecord(err) && typeof err['code'] === 'string' ? err['code'] : undefined
  const message = isRecord(err) && typeof err['message'] === 'string' ? err['message'] : fallback
  return `${status}${code === undefined ? '' : ` ${code}`}: ${message.slice(0, 512)}`
}

export function armErrorCode(untrustedBody: unknown): string | undefined {
  const err = isRecord(untrustedBody) ? untrustedBody['error'] : undefined
  return isRecord(err) && typeof err['code'] === 'string' ? err['code'] : undefined
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
