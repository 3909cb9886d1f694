/**
 * The server plugins' own checks, in their attestors' order, run by `spire-azure doctor` on what
 * this VM's agents send: the azure_msi token sequence and the azure_imds document sequence, with
 * the server plugins' production dependencies (Entra key sets, pinned roots and trust bundle,
 * bundled intermediates and AIA, tenant lookup), so what doctor accepts is what the server accepts.
 * Left out is what needs the server's own ARM credential or SPIRE's agent store: the identity
 * binding and selector resolution through ARM, the subscription's home tenant per ARM, and TOFU.
 */
import type { ImdsAttestationPayload } from '../azure/imds-payload.js'
import type { HttpFetch } from '../azure/http.js'
import { NOOP_LOGGER, NOOP_METRICS, PluginError, type PluginContext } from '../plugin/index.js'
import { makeAgentId as makeMsiAgentId } from '../../server-plugin/azure-msi/agent-id.js'
import type {
  MsiServerConfig,
  TenantConfig as MsiTenant,
} from '../../server-plugin/azure-msi/config.js'
import {
  createDefaultDeps as createMsiServerDeps,
  type Deps as MsiServerDeps,
} from '../../server-plugin/azure-msi/deps.js'
import { keySetFor, signingKeys } from '../../server-plugin/azure-msi/attestor.js'
import { checkSubscription, computeHint } from '../../server-plugin/azure-msi/resolve.js'
import {
  authorizePrincipal,
  authorizeTenant as authorizeMsiTenant,
  checkIssuer,
  checkTokenClaims,
  checkTokenType,
  parseMsiToken,
  verifyTokenSignature,
  type MsiClaims,
} from '../../server-plugin/azure-msi/verify.js'
import { makeAgentId as makeImdsAgentId } from '../../server-plugin/azure-imds/agent-id.js'
import type { Cert } from '../../server-plugin/azure-imds/certificate.js'
import type {
  ImdsServerConfig,
  TenantConfig as ImdsTenant,
} from '../../server-plugin/azure-imds/config.js'
import {
  authorizeSubscription,
  checkDocumentContent,
  type DocumentContent,
} from '../../server-plugin/azure-imds/content.js'
import {
  createDefaultDeps as createImdsServerDeps,
  type Deps as ImdsServerDeps,
} from '../../server-plugin/azure-imds/deps.js'
import {
  authorizeTenant as authorizeImdsTenant,
  checkSubscriptionTenant,
} from '../../server-plugin/azure-imds/tenants.js'
import { verifyDocumentSignatureAndChain } from '../../server-plugin/azure-imds/verify-document.js'

/** Both server plugins' production dependencies over one transport; no agent is ever attested. */
export interface ServerSides {
  msi: MsiServerDeps
  imds: ImdsServerDeps
}

export function createServerSides(http: HttpFetch): ServerSides {
  const ctx: PluginContext = {
    log: NOOP_LOGGER,
    agentStore: { isAttested: async () => false },
    metrics: NOOP_METRICS,
    hostServices: [],
  }
  return { msi: createMsiServerDeps(ctx, http), imds: createImdsServerDeps(ctx, http) }
}

export interface MsiVerdict {
  claims: MsiClaims
  tenant: MsiTenant
  /** The agent ID under the config's agent_path_template. */
  agentId: string
  /** Where the signing key came from. */
  discoveryUrl: string
  kid: string
}

/**
 * azure_msi's attestor steps for one token: structure and algorithm, the tenant's key set, the
 * signature, the agent ID, the tenant, audience and time claims, issuer, token type, principal
 * allow-list, and (ours, from the token's own xms_az_rid/xms_mirid) the configured subscription.
 * Throws the server's PluginError.
 */
export async function verifyMsiToken(
  config: MsiServerConfig,
  token: string,
  deps: MsiServerDeps,
  now: Date,
): Promise<MsiVerdict> {
  const parsed = parseMsiToken(token)
  // the attestor's own key-set choice and key fetch
  const { url } = keySetFor(config, parsed)
  const keys = await signingKeys(deps, config, parsed)
  const claims = await verifyTokenSignature(parsed, keys)
  const agentId = makeMsiAgentId(config, claims)
  const tenant = authorizeMsiTenant(config, claims)
  checkTokenClaims(claims, { audiences: tenant.audiences, now })
  checkIssuer(claims, tenant, keys[0])
  checkTokenType(claims)
  authorizePrincipal(tenant, claims)
  const place = computeHint(claims)
  if (tenant.subscriptionId !== undefined && place !== undefined) {
    checkSubscription(place.subscriptionId, tenant.subscriptionId)
  }
  return { claims, tenant, agentId, discoveryUrl: url, kid: parsed.kid }
}

/** The document's signature, chain and content, verified. */
export interface ImdsDocumentVerdict {
  content: DocumentContent
  signer: Cert
  /** Leaf first, pinned root last. */
  chain: readonly Cert[]
}

/**
 * azure_imds's document steps: the signature, signer SAN and usage, the chain to a pinned root (or
 * the config's trust bundle, via its bundled intermediates and AIA), then nonce, VM ID and validity
 * window. Throws the server's PluginError.
 */
export async function verifyImdsDocument(
  config: ImdsServerConfig,
  payload: ImdsAttestationPayload,
  nonce: string,
  deps: ImdsServerDeps,
  now: Date,
): Promise<ImdsDocumentVerdict> {
  const verified = await verifyDocumentSignatureAndChain(payload.document, {
    now,
    roots: await deps.roots(config),
    intermediates: deps.intermediates(config),
    allowedDomains: config.allowedDomains,
  })
  checkDocumentContent(verified.content, { nonce, now })
  return { content: verified.content, signer: verified.signer, chain: verified.chain }
}

export interface ImdsAgentVerdict {
  tenant: ImdsTenant
  tenantId: string
  agentId: string
}

/**
 * azure_imds's steps after the document: the tenant the agent's hint names, the subscription
 * allow-list, the tenant's ID (configured, or looked up as the server does), and the agent ID.
 * `vmTenantId`, the VM's tenant as IMDS told it, stands in for the server's ARM lookup of the
 * subscription's home tenant. Throws the server's PluginError.
 */
export async function authorizeImdsAgent(
  config: ImdsServerConfig,
  document: ImdsDocumentVerdict,
  payload: ImdsAttestationPayload,
  deps: ImdsServerDeps,
  vmTenantId: string | undefined,
): Promise<ImdsAgentVerdict> {
  const { content } = document
  const tenant = authorizeImdsTenant(config, payload.metadata.agentDomain)
  authorizeSubscription(content.subscriptionId, tenant.allowedSubscriptions)
  const tenantId = await deps.tenantId(tenant)
  if (vmTenantId !== undefined) {
    checkSubscriptionTenant(content.subscriptionId, tenantId, {
      visible: true,
      tenantId: vmTenantId.toLowerCase(),
    })
  }
  const agentId = makeImdsAgentId(config, {
    tenantId,
    subscriptionId: content.subscriptionId,
    vmId: content.vmId,
    nonce: content.nonce,
  })
  return { tenant, tenantId, agentId }
}

/** A refusal as one line: the server's message and its failure reason. */
export function refusal(err: unknown): string {
  if (err instanceof PluginError) return `${err.message} (${err.reason})`
  return err instanceof Error ? err.message : String(err)
}
