// How a plugin reaches Azure for a tenant, in one place for both attestors and both sides: the
// endpoint settings (`endpoints.*`, `imds_endpoint`) with one URL validation, the cloud a name
// selects, the tenant credential (secret, federated token file, or the default chain), the CA file
// that TLS to an emulator or Azure Stack trusts, and the key under which equal tenants share clients.
// Config parts are pure (they report problems); the I/O parts (CA and token files, @azure/identity)
// are loaded only when the first attestation needs them.
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { TokenCredential } from '@azure/identity'
import { parseGoDuration } from '../go/duration.js'
import { PluginError } from '../plugin/index.js'
import { acceptedCloudNames, IMDS_ENDPOINT, lookupCloud, type AzureCloud } from './clouds.js'
import { isLoopbackHost, type HttpFetch, type NodeHttp } from './http.js'
import { ASYMMETRIC_JWS_ALGORITHMS } from './jws.js'

/** A path of keys inside `plugin_data`: field names, map keys (tenant IDs), list indices. */
export type KeyPath = readonly (string | number)[]

/** Where config builders report problems, with the key paths they are about (Report fits). */
export interface ConfigProblems {
  error(message: string, ...keyPaths: KeyPath[]): void
}

/** Where a tenant's Entra ID and Resource Manager live: the cloud's, or the operator's overrides. */
export interface Endpoints {
  authorityHost: string
  armEndpoint: string
  /** Extra PEM trust anchors for TLS to Entra ID and ARM (path), read when clients are first made. */
  caFile: string | undefined
}

export type TenantCredential =
  | { kind: 'client-secret'; appId: string; appSecret: string }
  /** upstream parity (azure_imds token_auth): a federated token file, re-read for every request. */
  | { kind: 'client-assertion'; appId: string; tokenPath: string }
  | { kind: 'default' }

/** The `endpoints { … }` block; a plugin's schema decides which of these keys it offers. */
export interface RawEndpoints {
  authority_host?: string
  resource_manager?: string
  imds?: string
  ca_file?: string
  aia_issuers?: string
}

export interface EndpointOverrides {
  authorityHost: string | undefined
  armEndpoint: string | undefined
  /** The server's own IMDS (azure_msi: its subscription when a tenant names none). */
  imds: string | undefined
  caFile: string | undefined
  /** Emulators only: one base URL answering for every allowed AIA certificate issuer host. */
  aiaIssuers: string | undefined
}

/** Whether a URL setting may use plain http: never, on loopback only, or always (IMDS, AIA). */
export type HttpPolicy = 'never' | 'loopback' | 'always'

/**
 * The one URL rule for every endpoint setting: http(s) only (plain http as the policy allows), no
 * `user:password@`, no query or fragment; a trailing slash is dropped. Undefined when unset or bad.
 */
export function endpointUrl(
  value: string | undefined,
  key: string,
  http: HttpPolicy,
  problems: ConfigProblems,
): string | undefined {
  if (value === undefined || value === '') return undefined
  const q = `${key} ${JSON.stringify(value)}`
  // `key` is the setting's dotted path (`endpoints.imds`)
  const at = key.split('.')
  let u: URL
  try {
    u = new URL(value)
  } catch {
    problems.error(`${q} is not a URL`, at)
    return undefined
  }
  const httpOk =
    u.protocol === 'http:' &&
    (http === 'always' || (http === 'loopback' && isLoopbackHost(u.hostname)))
  if (u.protocol !== 'https:' && !httpOk) {
    problems.error(`${q} must use https`, at)
    return undefined
  }
  if (u.username !== '' || u.password !== '') {
    problems.error(`${q} must not carry credentials (user:password@)`, at)
    return undefined
  }
  if (u.search !== '' || u.hash !== '') {
    problems.error(`${q} must not have a query or fragment`, at)
    return undefined
  }
  return value.replace(/\/+$/, '')
}

export function endpointOverrides(raw: RawEndpoints, problems: ConfigProblems): EndpointOverrides {
  return {
    authorityHost: endpointUrl(
      raw.authority_host,
      'endpoints.authority_host',
      'loopback',
      problems,
    ),
    // the Azure SDKs refuse to send bearer tokens over plain http
    armEndpoint: endpointUrl(raw.resource_manager, 'endpoints.resource_manager', 'never', problems),
    // IMDS is plain http on every VM
    imds: endpointUrl(raw.imds, 'endpoints.imds', 'always', problems),
    caFile: raw.ca_file || undefined,
    // AIA is plain http in production too
    aiaIssuers: endpointUrl(raw.aia_issuers, 'endpoints.aia_issuers', 'always', problems),
  }
}

export function resolveEndpoints(cloud: AzureCloud, o: EndpointOverrides): Endpoints {
  return {
    authorityHost: o.authorityHost ?? cloud.authorityHost,
    armEndpoint: o.armEndpoint ?? cloud.armEndpoint,
    caFile: o.caFile,
  }
}

/**
 * The cloud a `cloud_environment` names (an SDK name or an alias, any case); undefined, and a
 * problem at `keyPath`, when it names none: a retired cloud says what to use instead, an unknown
 * name lists the accepted ones.
 */
export function cloudOrReport(
  name: string | undefined,
  what: string,
  problems: ConfigProblems,
  keyPath: KeyPath = ['cloud_environment'],
): AzureCloud | undefined {
  if (name === undefined || name === '') return undefined
  const found = lookupCloud(name)
  const q = `${what} ${JSON.stringify(name)}`
  if (found.kind === 'retired') problems.error(`${q}: ${found.reason}`, keyPath)
  if (found.kind === 'unknown') {
    problems.error(
      `${q} is not a known Azure cloud; accepted names (any case): ${acceptedCloudNames()}`,
      keyPath,
    )
  }
  return found.kind === 'known' ? found.cloud : undefined
}

/** An agent's `imds_endpoint`: an http(s) base URL, IMDS's own address when unset. */
export function buildImdsEndpoint(value: string | undefined, problems: ConfigProblems): string {
  if (value === undefined || value === '') return IMDS_ENDPOINT
  let u: URL | undefined
  try {
    u = new URL(value)
  } catch {
    u = undefined
  }
  if (
    u === undefined ||
    (u.protocol !== 'http:' && u.protocol !== 'https:') ||
    u.search !== '' ||
    u.hash !== ''
  ) {
    problems.error(`imds_endpoint ${JSON.stringify(value)} must be an http(s) URL without query`, [
      'imds_endpoint',
    ])
    return IMDS_ENDPOINT
  }
  // the same rules as every other endpoint setting (credentials never ride in a URL)
  return endpointUrl(value, 'imds_endpoint', 'always', problems) ?? IMDS_ENDPOINT
}

/** A positive Go duration setting (`"10s"`) in milliseconds; `fallback` when unset. */
export function buildDurationMs(
  value: string | undefined,
  key: string,
  fallback: number,
  problems: ConfigProblems,
): number {
  if (value === undefined || value === '') return fallback
  const ms = parseGoDuration(value)
  if (ms === undefined || ms <= 0) {
    problems.error(
      `${key} ${JSON.stringify(value)} must be a positive duration such as "10s"`,
      key.split('.'),
    )
    return fallback
  }
  return ms
}

/**
 * Identity of the Azure clients a tenant needs: tenants with equal keys share clients and caches.
 * The secret only distinguishes clients; it is hashed so it never sits in a map key.
 */
export function clientKey(
  tenant: string,
  cloud: AzureCloud,
  e: Endpoints,
  c: TenantCredential,
): string {
  const cred =
    c.kind === 'client-secret'
      ? `secret:${c.appId}:${createHash('sha256').update(c.appSecret).digest('hex')}`
      : c.kind === 'client-assertion'
        ? `assertion:${c.appId}:${c.tokenPath}`
        : 'default'
  return JSON.stringify([tenant, cloud.name, e.authorityHost, e.armEndpoint, e.caFile ?? '', cred])
}

/** Reads files the tenant clients need, cached: CA files for good, others for `ttlMs`. */
export interface FileLoader {
  /** A CA file for TLS trust; a failure is Internal `ca_file_unreadable`. */
  readCa(path: string): Promise<string>
  /** Any text file, re-read after `ttlMs` (failures are not cached). */
  readText(path: string, ttlMs: number): Promise<string>
}

export function createFileLoader(now: () => number): FileLoader {
  const files = new Map<string, { at: number; text: Promise<string> }>()
  const readText = (path: string, ttlMs: number): Promise<string> => {
    const hit = files.get(path)
    if (hit !== undefined && now() - hit.at < ttlMs) return hit.text
    const text = readFile(path, 'utf8')
    text.catch(() => files.delete(path))
    files.set(path, { at: now(), text })
    return text
  }
  return {
    readText,
    async readCa(path) {
      try {
        return await readText(path, Number.POSITIVE_INFINITY)
      } catch (err) {
        throw new PluginError(
          'Internal',
          'ca_file_unreadable',
          `unable to read ca_file ${JSON.stringify(path)}: ${(err as Error).message}`,
        )
      }
    },
  }
}

/** `http` with the CA file's certificates trusted too (none: `http` itself). */
export function withCaFile(
  http: HttpFetch,
  caFile: string | undefined,
  files: FileLoader,
): HttpFetch {
  return caFile === undefined
    ? http
    : async (req) => http({ ...req, extraCa: [await files.readCa(caFile)] })
}

/**
 * Builds, ahead of the first request, the TLS trust context `withCaFile(http, caFile, files)` will
 * use (an attestor's `warm`: no connection, no Azure request). A transport without `prepare` (a
 * test fake) or an unreadable CA file is left for the first request to handle.
 */
export async function prepareTrust(
  http: HttpFetch,
  caFile: string | undefined,
  files: FileLoader,
): Promise<void> {
  const prepare = (http as Partial<NodeHttp>).prepare
  if (prepare === undefined) return
  try {
    prepare(caFile === undefined ? undefined : [await files.readCa(caFile)])
  } catch {
    // the first request reports it
  }
}

/** @azure/identity, a lazy chunk: loaded on first use, or ahead of it by an attestor's `warm`. */
export const loadIdentity = (): Promise<typeof import('@azure/identity')> =>
  import('@azure/identity')

/**
 * An Azure attestor's `warm`: @azure/identity (a lazy chunk that signs ARM in) compiled, and the TLS
 * contexts of these CA files (undefined: the system roots) built — no connection, no Azure request.
 */
export async function warmTenantAccess(
  http: HttpFetch,
  files: FileLoader,
  caFiles: readonly (string | undefined)[],
): Promise<void> {
  await Promise.all([
    loadIdentity(),
    ...[...new Set(caFiles)].map((caFile) => prepareTrust(http, caFile, files)),
  ])
}

/**
 * The @azure/identity credential for a tenant (loaded on first use): a client secret, a federated
 * token file, or the default chain (environment, workload identity, managed identity).
 */
export async function makeCredential(
  tenantId: string,
  cloud: AzureCloud,
  endpoints: Endpoints,
  credential: TenantCredential,
  ca: string[] | undefined,
): Promise<TokenCredential> {
  const { ClientAssertionCredential, ClientSecretCredential, DefaultAzureCredential } =
    await loadIdentity()
  const custom = endpoints.authorityHost !== cloud.authorityHost
  const options = {
    authorityHost: endpoints.authorityHost,
    // an emulator or Azure Stack authority is not in MSAL's list of known clouds
    ...(custom ? { disableInstanceDiscovery: true } : {}),
    ...(ca === undefined ? {} : { tlsOptions: { ca } }),
  }
  switch (credential.kind) {
    case 'client-secret':
      return new ClientSecretCredential(tenantId, credential.appId, credential.appSecret, options)
    case 'client-assertion': {
      const { tokenPath } = credential
      return new ClientAssertionCredential(
        tenantId,
        credential.appId,
        () => readAssertion(tokenPath),
        options,
      )
    }
    default:
      return new DefaultAzureCredential({ ...options, tenantId })
  }
}

/** upstream parity: the client-assertion file must hold a JWS with one of these algorithms. */
const ASSERTION_ALGS: ReadonlySet<string> = new Set(ASYMMETRIC_JWS_ALGORITHMS)

/** upstream parity: the token file is re-read for every token request and must parse as a JWS. */
export async function readAssertion(path: string): Promise<string> {
  let token: string
  try {
    token = (await readFile(path, 'utf8')).trim()
  } catch (err) {
    throw new Error(`unable to read token file ${JSON.stringify(path)}: ${(err as Error).message}`)
  }
  const problem = jwsProblem(token)
  if (problem !== undefined)
    throw new Error(`unable to parse token file ${JSON.stringify(path)}: ${problem}`)
  return token
}

/** Why `token` is not a compact JWS signed with an allowed algorithm; undefined when it is. */
function jwsProblem(token: string): string | undefined {
  const parts = token.split('.')
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p)))
    return 'not a compact JWS'
  let header: unknown
  try {
    header = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8'))
  } catch {
    return 'malformed JWS header'
  }
  const alg =
    typeof header === 'object' && header !== null
      ? (header as Record<string, unknown>)['alg']
      : undefined
  return typeof alg === 'string' && ASSERTION_ALGS.has(alg)
    ? undefined
    : `unexpected signature algorithm ${JSON.stringify(alg)}`
}
