import { createArmRest } from '../../shared/azure/arm-rest.js'
import { raceAbort } from '../../shared/azure/cache.js'
import { createCallGate } from '../../shared/azure/call-gate.js'
import { armScope } from '../../shared/azure/clouds.js'
import { nodeHttp, type HttpFetch } from '../../shared/azure/http.js'
import {
  batchedGate,
  createResourceGraphBatch,
  observeResourceGraph,
  realTimer,
  type ResourceGraphBatch,
} from '../../shared/azure/resource-graph-batch.js'
import { sleep } from '../../shared/azure/retry.js'
import { lookupTenantId } from '../../shared/azure/tenant-lookup.js'
import {
  createFileLoader,
  makeCredential,
  warmTenantAccess,
  withCaFile,
} from '../../shared/azure/tenant-access.js'
import { azureFailureStatus } from '../../shared/azure/transient.js'
import type { PluginContext, ServerAttestorDeps } from '../../shared/plugin/index.js'
import { PluginError, serverAttestorDeps, systemClock } from '../../shared/plugin/index.js'
import { createAiaFetcher } from './aia.js'
import { createImdsAzure, lazyImdsAzure, type ImdsAzure } from './azure.js'
import { parsePemCertificates, type Cert } from './certificate.js'
import type { IntermediateSource } from './chain.js'
import type { ImdsServerConfig, TenantConfig } from './config.js'
import { NonceRegistry } from './nonce.js'
import { bundledIntermediates, IntermediatePool, pinnedRoots } from './roots.js'
import type { VerificationCache } from './verify-cache.js'

/** The attestor's seams (upstream's `hooks`): tests build one by hand, `main.ts` uses the defaults. */
export interface Deps extends ServerAttestorDeps {
  nonces: NonceRegistry
  /** The pinned roots plus the CA certificates of `trust_bundle_path`. */
  roots(config: ImdsServerConfig): Promise<readonly Cert[]>
  /** Bundled intermediates, then cached ones, then AIA (allow-listed). */
  intermediates(config: ImdsServerConfig): IntermediateSource
  /** The tenant's ID: configured, or looked up from its domain once and remembered. */
  tenantId(tenant: TenantConfig, signal?: AbortSignal): Promise<string>
  /** The (cached, coalescing, retrying) Azure reads of a tenant's credential. */
  azureFor(tenant: TenantConfig): ImdsAzure
  /** Parsed certificates and verified chains (verify-cache.ts); the attestor makes one if absent. */
  verificationCache?: VerificationCache
  /** `warm`: @azure/identity and the TLS contexts of these CA files (undefined: system roots). */
  warm?(caFiles: readonly (string | undefined)[]): Promise<void>
}

/** A changed trust bundle file is picked up within this long. */
const TRUST_BUNDLE_TTL_MS = 5 * 60_000
/** VM and NIC reads are served from memory this long (bounded staleness of tags and networks). */
export const READ_CACHE_TTL_MS = 60_000
/** Resource Graph lookups by vmId and subscription→tenant answers are this stable. */
export const LOOKUP_CACHE_TTL_MS = 10 * 60_000

/**
 * Production dependencies. Nothing here touches the network or loads an Azure SDK until the first
 * attestation needs it, so the plugin's cold start stays small.
 */
export function createDefaultDeps(ctx: PluginContext, http: HttpFetch = nodeHttp): Deps {
  const base = serverAttestorDeps(ctx)
  const log = base.log
  const files = createFileLoader(() => Date.now())
  const bundles = new Map<string, { text: string; roots: readonly Cert[] }>()
  const pools = new Map<string, IntermediatePool>()
  const tenantIds = new Map<string, Promise<string>>()
  const clients = new Map<string, ImdsAzure>()

  return {
    ...base,
    nonces: new NonceRegistry({ now: () => Date.now() }),
    async roots(config) {
      const path = config.trustBundlePath
      if (path === undefined) return pinnedRoots()
      let text: string
      try {
        text = await files.readText(path, TRUST_BUNDLE_TTL_MS)
      } catch (err) {
        throw trustBundleError(
          `unable to load trust bundle ${JSON.stringify(path)}: ${(err as Error).message}`,
        )
      }
      let parsed = bundles.get(path)
      if (parsed?.text !== text) {
        parsed = { text, roots: [...pinnedRoots(), ...parseTrustBundle(path, text)] }
        bundles.set(path, parsed)
      }
      return parsed.roots
    },
    intermediates(config) {
      const key = JSON.stringify([config.aiaIssuers ?? '', config.caFile ?? ''])
      let pool = pools.get(key)
      if (pool === undefined) {
        const aiaHttp = withCaFile(http, config.caFile, files)
        pool = new IntermediatePool({
          bundled: bundledIntermediates(),
          fetcher: createAiaFetcher({
            http: aiaHttp,
            now: () => Date.now(),
            ...(config.aiaIssuers === undefined ? {} : { issuerOverride: config.aiaIssuers }),
          }),
          now: () => Date.now(),
        })
        pools.set(key, pool)
      }
      return pool
    },
    warm: (caFiles) => warmTenantAccess(http, files, caFiles),
    async tenantId(tenant, signal) {
      if (tenant.tenantId !== undefined) return tenant.tenantId
      const key = JSON.stringify([tenant.domain, tenant.endpoints.authorityHost])
      let p = tenantIds.get(key)
      if (p === undefined) {
        p = (async () => {
          const ca =
            tenant.endpoints.caFile === undefined
              ? undefined
              : [await files.readCa(tenant.endpoints.caFile)]
          return lookupTenantId({
            http,
            authorityHost: tenant.endpoints.authorityHost,
            cloud: tenant.cloud,
            domain: tenant.domain ?? tenant.key,
            ...(ca === undefined ? {} : { extraCa: ca }),
          })
        })()
        // upstream parity: a resolved domain is remembered for the life of the process
        p.catch(() => tenantIds.delete(key))
        tenantIds.set(key, p)
      }
      try {
        return await (signal === undefined ? p : raceAbort(p, signal))
      } catch (err) {
        if (err instanceof PluginError) throw err
        // deviation: `Unavailable` when Entra answered 5xx/429 or did not answer
        throw new PluginError(
          azureFailureStatus(err),
          'tenant_lookup_failed',
          `unable to lookup tenant ID: ${(err as Error).message}`,
          { cause: err },
        )
      }
    },
    azureFor(tenant) {
      let client = clients.get(tenant.clientKey)
      if (client === undefined) {
        const tlog = log.with({ tenant: tenant.key })
        client = lazyImdsAzure(async () => {
          const tenantId = await this.tenantId(tenant)
          const ca =
            tenant.endpoints.caFile === undefined
              ? undefined
              : [await files.readCa(tenant.endpoints.caFile)]
          const credential = await makeCredential(
            tenantId,
            tenant.cloud,
            tenant.endpoints,
            tenant.credential,
            ca,
          )
          const scope = armScope(tenant.cloud.armResourceId)
          const common = { now: () => Date.now(), sleep, log: tlog }
          // fleet boots: concurrent VM reads are batched into Resource Graph queries
          let batch: ResourceGraphBatch | undefined
          const rest = createArmRest({
            credential,
            armEndpoint: tenant.endpoints.armEndpoint,
            armScope: scope,
            http: observeResourceGraph(http, (headers) => batch?.observe(headers)),
            now: systemClock,
            ...(ca === undefined ? {} : { extraCa: ca }),
          })
          batch = createResourceGraphBatch({
            rest,
            now: () => Date.now(),
            setTimer: realTimer,
            sleep: (ms) => sleep(ms),
            log: tlog,
          })
          return createImdsAzure({
            rest,
            reads: batchedGate(createCallGate({ ...common, cacheTtlMs: READ_CACHE_TTL_MS }), batch),
            lookups: batchedGate(
              createCallGate({ ...common, cacheTtlMs: LOOKUP_CACHE_TTL_MS }),
              batch,
            ),
          })
        })
        clients.set(tenant.clientKey, client)
      }
      return client
    },
  }
}

/** upstream parity (main, #7143): CA certificates only, with upstream's messages. */
export function parseTrustBundle(path: string, text: string): Cert[] {
  let certs: Cert[]
  try {
    certs = parsePemCertificates(text)
  } catch (err) {
    throw trustBundleError(
      `unable to load trust bundle ${JSON.stringify(path)}: ${(err as Error).message}`,
    )
  }
  if (certs.length === 0)
    throw trustBundleError(
      `unable to load trust bundle ${JSON.stringify(path)}: no certificates found`,
    )
  for (const c of certs) {
    if (!c.isCa) {
      throw trustBundleError(
        `trust bundle ${JSON.stringify(path)} contains a non-CA certificate (subject ${JSON.stringify(c.subject)})`,
      )
    }
  }
  return certs
}

function trustBundleError(message: string): PluginError {
  return new PluginError('Internal', 'trust_bundle_invalid', message)
}
