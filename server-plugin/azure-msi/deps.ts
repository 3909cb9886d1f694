import type { ArmClient } from '../../shared/azure/arm.js'
import { createResilientArm } from '../../shared/azure/arm-resilient.js'
import { createArmRest } from '../../shared/azure/arm-rest.js'
import { createRestArmClient } from '../../shared/azure/arm-rest-reads.js'
import { armScope } from '../../shared/azure/clouds.js'
import { nodeHttp, type HttpFetch } from '../../shared/azure/http.js'
import { fetchInstanceCompute } from '../../shared/azure/imds.js'
import { OidcKeySource, type KeySource } from '../../shared/azure/jwks.js'
import {
  batchedArmClient,
  createResourceGraphBatch,
  observeResourceGraph,
  realTimer,
  type ResourceGraphBatch,
} from '../../shared/azure/resource-graph-batch.js'
import { sleep } from '../../shared/azure/retry.js'
import {
  createFileLoader,
  makeCredential,
  warmTenantAccess,
  withCaFile,
  type FileLoader,
} from '../../shared/azure/tenant-access.js'
import type { Logger, PluginContext, ServerAttestorDeps } from '../../shared/plugin/index.js'
import { PluginError, serverAttestorDeps, systemClock } from '../../shared/plugin/index.js'
import type { Endpoints, KeyCacheTuning, TenantConfig } from './config.js'

/** The attestor's seams (upstream's `hooks`): tests build one by hand, `main.ts` uses the defaults. */
export interface Deps extends ServerAttestorDeps {
  /** Signing keys for tokens verified against these endpoints (and their CA file). */
  keysFor(endpoints: Endpoints, tuning: KeyCacheTuning): KeySource
  /** The (cached, coalescing, retrying) ARM client of a tenant's credential. */
  armFor(tenant: TenantConfig): ArmClient
  /** upstream parity: the server VM's own subscription, used when a tenant configures none. */
  serverSubscription(imdsEndpoint: string | undefined, signal?: AbortSignal): Promise<string>
  /** `warm`: @azure/identity and the TLS contexts of these CA files (undefined: system roots). */
  warm?(caFiles: readonly (string | undefined)[]): Promise<void>
}

/** How long the server's own subscription, once read from IMDS, is reused. */
const SERVER_SUBSCRIPTION_TTL_MS = 60 * 60_000
const SERVER_IMDS_TIMEOUT_MS = 5_000

/**
 * Production dependencies. Nothing here touches the network or loads an Azure SDK until the first
 * attestation needs it, so the plugin's cold start stays small.
 */
export function createDefaultDeps(ctx: PluginContext, http: HttpFetch = nodeHttp): Deps {
  const base = serverAttestorDeps(ctx)
  const log = base.log
  const files = createFileLoader(() => Date.now())
  const withCa = (caFile: string | undefined): HttpFetch => withCaFile(http, caFile, files)

  const keySources = new Map<string, KeySource>()
  const armClients = new Map<string, ArmClient>()
  let serverSub: { value: string; at: number } | undefined

  return {
    ...base,
    keysFor(endpoints, tuning) {
      const key = JSON.stringify([endpoints.caFile ?? '', tuning])
      let source = keySources.get(key)
      if (source === undefined) {
        source = new OidcKeySource({
          http: withCa(endpoints.caFile),
          now: () => Date.now(),
          log,
          ttlMs: tuning.ttlMs,
          maxStaleMs: tuning.maxStaleMs,
          unknownKidCooldownMs: tuning.cooldownMs,
          failureBackoffMs: tuning.cooldownMs,
        })
        keySources.set(key, source)
      }
      return source
    },
    armFor(tenant) {
      let client = armClients.get(tenant.clientKey)
      if (client === undefined) {
        const tlog = log.with({ tenant_id: tenant.tenantId })
        client = createResilientArm(lazyArm(tenant, withCa(tenant.endpoints.caFile), files, tlog), {
          now: () => Date.now(),
          sleep,
          log: tlog,
        })
        armClients.set(tenant.clientKey, client)
      }
      return client
    },
    warm: (caFiles) => warmTenantAccess(http, files, caFiles),
    async serverSubscription(imdsEndpoint, signal) {
      if (serverSub !== undefined && Date.now() - serverSub.at < SERVER_SUBSCRIPTION_TTL_MS)
        return serverSub.value
      try {
        const compute = await fetchInstanceCompute({
          http,
          timeoutMs: SERVER_IMDS_TIMEOUT_MS,
          ...(imdsEndpoint === undefined ? {} : { endpoint: imdsEndpoint }),
          ...(signal === undefined ? {} : { signal }),
        })
        serverSub = { value: compute.subscriptionId.toLowerCase(), at: Date.now() }
        return serverSub.value
      } catch (err) {
        // deviation: upstream reads this at configure time and panics when it fails
        throw new PluginError(
          'Internal',
          'server_subscription_unknown',
          `unable to determine the server's subscription from IMDS (set subscription_id): ${(err as Error).message}`,
          { cause: err },
        )
      }
    },
  }
}

/** An ArmClient whose credential and REST transport are made on first use. */
function lazyArm(tenant: TenantConfig, http: HttpFetch, files: FileLoader, log: Logger): ArmClient {
  let inner: Promise<ArmClient> | undefined
  const get = (): Promise<ArmClient> => {
    inner ??= makeRestArm(tenant, http, files, log).catch((err: unknown) => {
      inner = undefined
      throw err
    })
    return inner
  }
  return {
    getVirtualMachine: async (...a) => (await get()).getVirtualMachine(...a),
    getScaleSet: async (...a) => (await get()).getScaleSet(...a),
    getScaleSetVm: async (...a) => (await get()).getScaleSetVm(...a),
    getNetworkInterface: async (...a) => (await get()).getNetworkInterface(...a),
    listVirtualMachinesByPrincipal: async (...a) =>
      (await get()).listVirtualMachinesByPrincipal(...a),
  }
}

async function makeRestArm(
  tenant: TenantConfig,
  http: HttpFetch,
  files: FileLoader,
  log: Logger,
): Promise<ArmClient> {
  const ca =
    tenant.endpoints.caFile === undefined
      ? undefined
      : [await files.readCa(tenant.endpoints.caFile)]
  const credential = await makeCredential(
    tenant.tenantId,
    tenant.cloud,
    tenant.endpoints,
    tenant.credential,
    ca,
  )
  // fleet boots: concurrent VM reads are batched into Resource Graph queries (resource-graph-batch.ts)
  let batch: ResourceGraphBatch | undefined
  const rest = createArmRest({
    credential,
    armEndpoint: tenant.endpoints.armEndpoint,
    armScope: armScope(tenant.cloud.armResourceId),
    http: observeResourceGraph(http, (headers) => batch?.observe(headers)),
    now: systemClock,
    ...(ca === undefined ? {} : { extraCa: ca }),
  })
  batch = createResourceGraphBatch({
    rest,
    now: () => Date.now(),
    setTimer: realTimer,
    sleep: (ms) => sleep(ms),
    log,
  })
  return batchedArmClient(createRestArmClient(rest), batch)
}
