import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createArmService, ARM_PAGE_SIZE } from './arm.js'
import { CLOUDS } from './clouds.js'
import { Counters } from './counters.js'
import { DEFAULT_WORLD } from './default-world.js'
import { createDocumentHelpers, createTokenHelpers } from './emulator-helpers.js'
import { createEntraService } from './entra.js'
import type { EntraState } from './entra.js'
import { Federation } from './entra-federation.js'
import type { FederatedCredentialInput } from './entra-federation.js'
import { EntraKeys } from './entra-keys.js'
import { Faults } from './faults.js'
import { sleep } from './http-kit.js'
import type { DispatchDeps, Service, ServiceName } from './http-kit.js'
import { createImdsService } from './imds.js'
import type { ImdsState } from './imds.js'
import { createIssuersService } from './issuers.js'
import { sharedKeyStore } from './keys.js'
import type { KeyStore } from './keys.js'
import { cloudForHost, close, IMDS_ADDRESS, listen, routeByHost } from './listeners.js'
import type { Bound } from './listeners.js'
import { createPki } from './pki.js'
import type { Pki } from './pki.js'
import { Throttling } from './throttling.js'
import type { ThrottlingOptions } from './throttling.js'
import { ResourceGraphIndex } from './resource-graph.js'
import type { ResourceGraphOptions } from './resource-graph.js'
import { World } from './world.js'
import type { WorldSpec } from './world-spec.js'
import type { App, FederatedCredential } from './world-types.js'

export { World } from './world.js'
export { DEFAULT_WORLD } from './default-world.js'
export { VM_HEADER } from './imds.js'
export type { Fault, FaultOptions } from './faults.js'
export type { Pki, Signer } from './pki.js'
export type { AttestedDocument, AttestedContent } from './attested-document.js'
export type { IssuedToken } from './tokens.js'
export type { FederatedCredentialInput } from './entra-federation.js'
export type { ThrottlingOptions } from './throttling.js'
export type { ResourceGraphOptions } from './resource-graph.js'
export type * from './world-spec.js'
export type * from './world-types.js'

export interface EmulatorOptions {
  /** Default: the demo world (default-world.ts) */
  world?: WorldSpec | World
  /** The emulator's clock for documents, tokens, PKI validity and throttling. Default: wall clock. */
  now?: Date | (() => Date)
  /** ARM throttling (token bucket per subscription); off unless given. */
  throttling?: boolean | ThrottlingOptions
  /** Resource Graph's indexing lag for freshly created VMs (default: none). */
  resourceGraph?: ResourceGraphOptions
  /** 'loopback': a 127.0.0.1 port per service. 'box': real ports and addresses inside a private netns. */
  mode?: 'loopback' | 'box'
  /** Fixed loopback ports (0 or absent: ephemeral) */
  ports?: Partial<Record<ServiceName, number>>
  /** VM that IMDS answers for when a request names none (default: the world's first VM) */
  defaultVm?: string
  armPageSize?: number
  keyStore?: KeyStore
  /** How injected latency and slow bodies wait (default: a real timer); tests inject one to count waits. */
  sleep?: (ms: number) => Promise<void>
  /** PEM roots trusted, besides the emulator's own, for federated issuers' discovery and JWKS. */
  federationCa?: string
  /** Let federated issuers and their `jwks_uri` be `http:` (Entra requires https). Default false. */
  allowInsecureFederationIssuers?: boolean
}

export interface Endpoints {
  imds: string
  /** IMDS base URL for one VM on the shared port (`/_vm/<key>` prefix) */
  imdsFor(vm: string): string
  entra: string
  arm: string
  issuers: string
  caCertPem: string
  /** PEM file of the emulator roots, for NODE_EXTRA_CA_CERTS / SSL_CERT_FILE */
  caFile: string
}

export type Emulator = Awaited<ReturnType<typeof startEmulator>>

export async function startEmulator(options: EmulatorOptions = {}) {
  let clock = toClock(options.now)
  const now = () => clock()
  const world =
    options.world instanceof World ? options.world : new World(options.world ?? DEFAULT_WORLD)
  const keyStore = options.keyStore ?? sharedKeyStore()
  const keys = new EntraKeys(keyStore)
  const [pki] = await Promise.all([createPki(keyStore, now()), keys.init()])
  const counters = new Counters()
  const faults = new Faults()
  const throttling = new Throttling(now, options.throttling)
  const resourceGraph = new ResourceGraphIndex(now, options.resourceGraph)
  const errors: unknown[] = []
  const firstVm = world.standaloneVms().next().value ?? world.vms().next().value
  const imdsState: ImdsState = {
    defaultVm: options.defaultVm ?? firstVm?.key ?? '',
    staleDocuments: false,
    lastDocuments: new Map(),
    tokenCache: new Map(),
  }
  const entraState: EntraState = { outage: false, ownKeys: new Set() }
  const federation = new Federation({
    ca: [pki.trustBundlePem, ...(options.federationCa ? [options.federationCa] : [])],
    allowInsecure: options.allowInsecureFederationIssuers ?? false,
    now,
  })
  /** An app by name or client id, in the named tenant or the only tenant that has it. */
  const appRef = (app: string, tenant?: string): App => {
    const tenants = tenant === undefined ? world.tenants : [world.tenant(tenant)]
    const found = tenants.flatMap((t) => world.findApp(t, app) ?? [])
    if (found.length === 0)
      throw new Error(`world: app ${JSON.stringify(app)} not found${tenant ? ` in ${tenant}` : ''}`)
    if (found.length > 1)
      throw new Error(
        `world: app ${JSON.stringify(app)} is in several tenants (${found.map((a) => a.tenant.name).join(', ')}): name one`,
      )
    return found[0]!
  }
  const services: Record<ServiceName, Service> = {
    imds: createImdsService({ world, pki, keys, now, state: imdsState }),
    entra: createEntraService({ world, keys, now, state: entraState, federation }),
    arm: createArmService({
      world,
      keys,
      now,
      throttling,
      resourceGraph,
      pageSize: options.armPageSize ?? ARM_PAGE_SIZE,
    }),
    issuers: createIssuersService(pki.published),
  }
  const deps: DispatchDeps = {
    counters,
    faults,
    now,
    sleep: options.sleep ?? sleep,
    serviceFor: routeByHost(services),
    cloudFor: cloudForHost,
    onError: (err) => errors.push(err),
  }
  const caDir = mkdtempSync(join(tmpdir(), 'azure-emulator-'))
  const caFile = join(caDir, 'ca.pem')
  writeFileSync(caFile, pki.trustBundlePem)
  const bound: Bound[] = []
  const endpoints = await bindAll(options, deps, pki, bound)
  const extraImds = new Map<string, string>()
  return {
    endpoints: {
      ...endpoints,
      imdsFor: (vm: string) => `${endpoints.imds}/_vm/${encodeURIComponent(world.vm(vm).key)}`,
      caCertPem: pki.trustBundlePem,
      caFile,
    } satisfies Endpoints,
    world,
    pki: pki as Pki,
    now,
    /** Moves the emulator's clock (a fixed Date, or a function). */
    setClock(next: Date | (() => Date)): void {
      clock = toClock(next)
    },
    tokens: createTokenHelpers(world, keys, now),
    documents: createDocumentHelpers(world, pki, now),
    counters,
    faults,
    throttling,
    /** Resource Graph's lag: `setLag(s)`, `setCreatedAt(fn)`, `created(vmRef, at?)`, `reset()`. */
    resourceGraph: {
      get lagS(): number {
        return resourceGraph.lagS
      },
      setLag: (lagS: number): void => resourceGraph.setLag(lagS),
      /** No lag and no recorded creation times. */
      reset: (): void => resourceGraph.reset(),
      setCreatedAt: (fn: ((vmArmId: string) => Date | undefined) | undefined): void =>
        resourceGraph.setCreatedAt(fn),
      /** Marks a VM (by world ref or ARM id) created at `at` (default: now on the emulator's clock). */
      created: (vm: string, at?: Date): void =>
        resourceGraph.created(vm.startsWith('/') ? vm : world.vm(vm).id, at),
    },
    /** Unexpected handler errors (answered as 500s); tests assert it stays empty. */
    errors,
    entra: {
      keys,
      /** New signing key for a tenant (or the common set); the previous one stays published unless keepPrevious is false. */
      async rotateKeys(tenant?: string, opts: { keepPrevious?: boolean } = {}): Promise<string> {
        const tid = tenant === undefined ? undefined : world.tenant(tenant).tenantId
        if (tid) entraState.ownKeys.add(tid)
        return keys.rotate(tid, opts)
      },
      setOutage(on: boolean): void {
        entraState.outage = on
      },
      /**
       * Adds a federated identity credential to an app (by name or client id; `tenant` by name, id
       * or domain, needed only when several tenants have such an app). Entra's rules apply: unique
       * name, unique issuer+subject, at most 20. Default audience `api://AzureADTokenExchange`.
       */
      addFederatedCredential(app: string, fic: FederatedCredentialInput, tenant?: string): void {
        federation.add(appRef(app, tenant), fic)
      },
      /** Removes every federated credential of the app, those declared in the world included. */
      removeFederatedCredentials(app: string, tenant?: string): void {
        federation.remove(appRef(app, tenant))
      },
      /** The app's federated credentials as the emulated Entra currently sees them. */
      federatedCredentials(app: string, tenant?: string): readonly FederatedCredential[] {
        return federation.credentials(appRef(app, tenant))
      },
      /** Discovery/JWKS URL for a tenant's cloud, on this emulator */
      jwksUri: (tenant?: string) => {
        const tid = tenant === undefined ? undefined : world.tenant(tenant).tenantId
        return tid && entraState.ownKeys.has(tid)
          ? `${endpoints.entra}/${tid}/discovery/keys`
          : `${endpoints.entra}/common/discovery/keys`
      },
    },
    imds: {
      setDefaultVm(vm: string): void {
        imdsState.defaultVm = world.vm(vm).key
      },
      setStaleDocuments(on: boolean): void {
        imdsState.staleDocuments = on
      },
      clearTokenCache(): void {
        imdsState.tokenCache.clear()
      },
      /** A dedicated IMDS port answering only for this VM (for clients that cannot add a path or header). */
      async listenFor(vm: string): Promise<string> {
        const key = world.vm(vm).key
        const existing = extraImds.get(key)
        if (existing) return existing
        const b = await listen(
          deps,
          { scheme: 'http', service: 'imds', vmKey: key },
          '127.0.0.1',
          0,
          pki.tls,
        )
        bound.push(b)
        extraImds.set(key, b.url)
        return b.url
      },
    },
    /** The emulator URL serving a real AIA URL (`http://www.microsoft.com/pkiops/certs/…`). */
    issuerUrl(aiaUrl: string): string {
      const u = new URL(aiaUrl)
      return `${endpoints.issuers}${u.pathname}`
    },
    clouds: CLOUDS,
    async stop(): Promise<void> {
      await Promise.all(bound.map(close))
      rmSync(caDir, { recursive: true, force: true })
    },
  }
}

function toClock(now: Date | (() => Date) | undefined): () => Date {
  if (now === undefined) return () => new Date()
  if (now instanceof Date) {
    const fixed = now.getTime()
    return () => new Date(fixed)
  }
  return now
}

async function bindAll(
  options: EmulatorOptions,
  deps: DispatchDeps,
  pki: Pki,
  bound: Bound[],
): Promise<Omit<Endpoints, 'imdsFor' | 'caCertPem' | 'caFile'>> {
  if (options.mode === 'box') {
    bound.push(await listen(deps, { scheme: 'https' }, '127.0.0.1', 443, pki.tls))
    bound.push(await listen(deps, { scheme: 'http' }, '127.0.0.1', 80, pki.tls))
    bound.push(await listen(deps, { scheme: 'http', service: 'imds' }, IMDS_ADDRESS, 80, pki.tls))
    return {
      imds: `http://${IMDS_ADDRESS}`,
      entra: 'https://login.microsoftonline.com',
      arm: 'https://management.azure.com',
      issuers: 'http://www.microsoft.com',
    }
  }
  const one = async (service: ServiceName, scheme: 'http' | 'https') => {
    const b = await listen(
      deps,
      { scheme, service },
      '127.0.0.1',
      options.ports?.[service] ?? 0,
      pki.tls,
    )
    bound.push(b)
    return b.url
  }
  const [imds, entra, arm, issuers] = await Promise.all([
    one('imds', 'http'),
    one('entra', 'https'),
    one('arm', 'https'),
    one('issuers', 'http'),
  ])
  return { imds, entra, arm, issuers }
}
