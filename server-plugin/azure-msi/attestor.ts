import type { JWK } from 'jose'
import { discoveryUrl, KeySourceError } from '../../shared/azure/jwks.js'
import { parseMsiPayload } from '../../shared/azure/payloads.js'
import { azureFailureStatus } from '../../shared/azure/transient.js'
import {
  assertNotAttested,
  isPluginError,
  PluginError,
  type ServerAttestor,
  type PluginContext,
} from '../../shared/plugin/index.js'
import { makeAgentId } from './agent-id.js'
import type { MsiServerConfig } from './config.js'
import { createDefaultDeps, type Deps } from './deps.js'
import { resolveCompute } from './resolve.js'
import { buildSelectors } from './selectors.js'
import {
  authorizePrincipal,
  authorizeTenant,
  checkIssuer,
  checkTokenClaims,
  checkTokenType,
  parseMsiToken,
  verifyTokenSignature,
  type ParsedToken,
} from './verify.js'

/**
 * The azure_msi server attestor: upstream's checks in upstream's order (pinned by a test), then
 * what upstream lacks — issuer binding, token type, the principal allow-list and ARM-validated
 * identity binding — before the selectors. No crypto, parsing or gRPC here: only the sequence.
 */
export function createAttestor(deps: Deps): ServerAttestor<MsiServerConfig> {
  return {
    async attest(payload, config, io) {
      const { token } = parseMsiPayload(payload)
      if (token === '') {
        throw new PluginError(
          'InvalidArgument',
          'missing_token',
          'missing token from attestation data',
        )
      }
      // deviation: the token is parsed before keys are fetched, because its (unverified) tenant
      // and version pick the key set; upstream fetched its one key set first
      const parsed = parseMsiToken(token)
      const keys = await signingKeys(deps, config, parsed, io.signal)
      const claims = await verifyTokenSignature(parsed, keys)
      const agentId = makeAgentId(config, claims)
      const tenant = authorizeTenant(config, claims)
      checkTokenClaims(claims, { audiences: tenant.audiences, now: new Date(deps.now()) })
      checkIssuer(claims, tenant, keys[0])
      checkTokenType(claims)
      authorizePrincipal(tenant, claims)
      // deviation: upstream asks AgentStore right after the agent ID, before the tenant and claim
      // checks, so an expired, foreign or mis-addressed token learns whether its identity is attested.
      // Here only a token that passed every check of its own reaches AgentStore.
      await assertNotAttested(deps.agentStore, agentId, deps.log, io.signal)
      const subscriptionId =
        tenant.subscriptionId ?? (await deps.serverSubscription(config.imdsEndpoint, io.signal))
      const compute = await resolveCompute({
        arm: deps.armFor(tenant),
        claims,
        subscriptionId,
        signal: io.signal,
      })
      const selectorValues = buildSelectors(compute, config.allowedVmTags, {
        tenantId: claims.tenantId,
        principalId: claims.principalId,
      })
      return {
        spiffeId: agentId,
        selectorValues,
        canReattest: false,
        logFields: {
          tenant_id: claims.tenantId,
          principal_id: claims.principalId,
          subscription_id: compute.subscriptionId,
          resource_group: compute.resourceGroup,
          vm_name: compute.name,
        },
      }
    },
  }
}

/**
 * Where the token's signing keys are published: the discovery document of the token's tenant (when
 * configured; else `common`, in the default cloud) and version. The tenant and version are read
 * unverified; they only pick the key set the signature is then checked against.
 */
export function keySetFor(config: MsiServerConfig, token: ParsedToken) {
  const untrustedTid = token.untrustedClaims['tid']
  const tenant =
    typeof untrustedTid === 'string' ? config.tenants.get(untrustedTid.toLowerCase()) : undefined
  const endpoints = tenant?.endpoints ?? config.defaultEndpoints
  const version = token.untrustedClaims['ver'] === '2.0' ? '2.0' : '1.0'
  return {
    endpoints,
    url: discoveryUrl(endpoints.authorityHost, tenant?.tenantId ?? 'common', version),
  }
}

/**
 * The keys published under the token's kid, from its key set (keySetFor).
 * upstream parity: no key set at all is `"unable to obtain JWKS: <err>"`, `Internal` — but
 * `Unavailable` when the fetch failed transiently (shared/azure/transient.ts).
 */
export async function signingKeys(
  deps: Pick<Deps, 'keysFor'>,
  config: MsiServerConfig,
  token: ParsedToken,
  signal?: AbortSignal,
): Promise<readonly JWK[]> {
  const { endpoints, url } = keySetFor(config, token)
  try {
    return await deps.keysFor(endpoints, config.keyCache).keysFor(url, token.kid, signal)
  } catch (err) {
    if (err instanceof KeySourceError || !isPluginError(err)) {
      // deviation: `Unavailable` when Entra answered 5xx/429 or did not answer (isTransient)
      throw new PluginError(
        azureFailureStatus(err),
        'jwks_unavailable',
        `unable to obtain JWKS: ${(err as Error).message}`,
        { cause: err },
      )
    }
    throw err
  }
}

/** The attestor with production dependencies (what `main.ts` loads after Init). */
export function createDefaultAttestor(ctx: PluginContext): ServerAttestor<MsiServerConfig> {
  const deps = createDefaultDeps(ctx)
  return {
    ...createAttestor(deps),
    // ahead of the first attestation, for Entra's and ARM's endpoints (their CA files)
    warm: async (config) => {
      await deps.warm?.([...config.tenants.values()].map((t) => t.endpoints.caFile))
    },
  }
}
