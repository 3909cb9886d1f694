import type { Logger } from '../plugin/index.js'
import { ArmError, type ArmClient } from './arm.js'
import { createCallGate } from './call-gate.js'

// azure_msi's ARM client: every read through one call gate (coalesced, cached and kept warm, retried).

/** VM, scale-set and NIC reads are served from memory this long (bounded staleness). */
export const ARM_CACHE_TTL_MS = 60_000
export const ARM_CACHE_MAX_ENTRIES = 10_000
/** One ARM request; the SDKs have no timeout of their own. */
export const ARM_ATTEMPT_TIMEOUT_MS = 15_000
export const ARM_MAX_ATTEMPTS = 4
/** No ARM read keeps an attestation waiting longer than this, Retry-After included. */
export const ARM_CALL_BUDGET_MS = 30_000

export interface ResilientArmOptions {
  /** Milliseconds clock. */
  now(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  log: Logger
  cacheTtlMs?: number
  /** Refresh cached reads in the background before they expire (default true; see call-gate.ts). */
  refreshAhead?: boolean
  maxEntries?: number
  maxAttempts?: number
  budgetMs?: number
  attemptTimeoutMs?: number
  random?(): number
}

/** Wraps an `ArmClient` in one call gate (`call-gate.ts`): coalesced, cached, retried, throttle-aware. */
export function createResilientArm(inner: ArmClient, options: ResilientArmOptions): ArmClient {
  const gate = createCallGate({
    now: options.now,
    sleep: options.sleep,
    log: options.log,
    cacheTtlMs: options.cacheTtlMs ?? ARM_CACHE_TTL_MS,
    ...(options.refreshAhead === undefined ? {} : { refreshAhead: options.refreshAhead }),
    maxEntries: options.maxEntries ?? ARM_CACHE_MAX_ENTRIES,
    maxAttempts: options.maxAttempts ?? ARM_MAX_ATTEMPTS,
    budgetMs: options.budgetMs ?? ARM_CALL_BUDGET_MS,
    attemptTimeoutMs: options.attemptTimeoutMs ?? ARM_ATTEMPT_TIMEOUT_MS,
    ...(options.random === undefined ? {} : { random: options.random }),
    // SDK failures without an HTTP status are transport errors: transient
    toArmError: (err) => new ArmError(String(err), {}, { cause: err }),
  })
  const run = <T>(
    op: string,
    args: readonly string[],
    call: (signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> => gate(op, args.join('|'), call, signal)

  return {
    getVirtualMachine: (sub, rg, name, signal) =>
      run('vm', [sub, rg, name], (s) => inner.getVirtualMachine(sub, rg, name, s), signal),
    getScaleSet: (sub, rg, name, signal) =>
      run('vmss', [sub, rg, name], (s) => inner.getScaleSet(sub, rg, name, s), signal),
    getScaleSetVm: (sub, rg, scaleSet, instanceId, signal) =>
      run(
        'vmss-vm',
        [sub, rg, scaleSet, instanceId],
        (s) => inner.getScaleSetVm(sub, rg, scaleSet, instanceId, s),
        signal,
      ),
    getNetworkInterface: (sub, rg, name, signal) =>
      run('nic', [sub, rg, name], (s) => inner.getNetworkInterface(sub, rg, name, s), signal),
    listVirtualMachinesByPrincipal: (sub, principalId, signal) =>
      run(
        'by-principal',
        [sub, principalId],
        (s) => inner.listVirtualMachinesByPrincipal(sub, principalId, s),
        signal,
      ),
  }
}
