import {
  fetchAttestedDocument,
  fetchInstanceMetadata,
  isImdsUnreachable,
} from '../../shared/azure/imds-document.js'
import { encodeImdsPayload, IMDS_INITIAL_PAYLOAD } from '../../shared/azure/imds-payload.js'
import {
  PluginError,
  type AgentAttestor,
  type FailureReason,
  type PluginContext,
} from '../../shared/plugin/index.js'
import type { ImdsAgentConfig } from './config.js'
import {
  imdsCallOptions,
  createImdsAgentDeps,
  type ImdsAgentDeps as Deps,
} from '../../shared/azure/imds.js'

/** What IMDS accepts as a nonce; anything else from a server is refused before it reaches a URL. */
const NONCE_RE = /^[A-Za-z0-9_-]{1,32}$/

/**
 * The azure_imds agent attestor: upstream's exchange byte for byte — `non_empty_payload`, then the
 * attested document for the server's nonce plus the hints — and, ours, the VM's `resourceId` hint.
 * The document is never logged.
 */
export function createAttestor(deps: Deps): AgentAttestor<ImdsAgentConfig> {
  return {
    async payload() {
      return Buffer.from(IMDS_INITIAL_PAYLOAD, 'ascii')
    },

    async respond(challenge, config, io) {
      const nonce = Buffer.from(challenge).toString('latin1')
      if (!NONCE_RE.test(nonce)) {
        throw new PluginError(
          'Internal',
          'invalid_challenge',
          'invalid challenge from server: expected a nonce of up to 32 characters [A-Za-z0-9_-]',
        )
      }
      const started = deps.now()
      const call = imdsCallOptions(deps, config, io.signal)
      const document = await fetchAttestedDocument({ ...call, nonce }).catch((err: unknown) => {
        throw imdsFailure(
          'document_fetch_failed',
          'unable to fetch attested document',
          err,
          config,
          NO_ATTESTED_DATA,
        )
      })
      // one retry budget for the whole response, not one per request: the server waits 60 s for
      // it, and the agent's own error must reach the server inside that wait
      const budgetMs = Math.max(0, config.retryTimeoutMs - (deps.now() - started))
      const instance = await fetchInstanceMetadata({ ...call, budgetMs }).catch((err: unknown) => {
        throw imdsFailure('metadata_fetch_failed', 'unable to fetch compute metadata', err, config)
      })
      deps.log.debug('Fetched attested document', {
        subscription_id: instance.subscriptionId,
        vm_name: instance.name,
        vmss_name: instance.vmScaleSetName,
      })
      return encodeImdsPayload({
        document,
        metadata: {
          agentDomain: config.tenantDomain,
          // upstream parity: null outside a scale set
          vmssName: instance.vmScaleSetName === '' ? null : instance.vmScaleSetName,
          resourceId: instance.resourceId === '' ? null : instance.resourceId,
        },
      })
    },
  }
}

const NO_ATTESTED_DATA = ' (this compute type offers no attested data)'

function imdsFailure(
  reason: FailureReason,
  prefix: string,
  err: unknown,
  config: ImdsAgentConfig,
  /** Added to a 404: only the attested-document endpoint's 404 means the compute type lacks it. */
  notFoundHint = '',
): PluginError {
  const message = err instanceof Error ? err.message : String(err)
  const hint = isImdsUnreachable(err)
    ? ` (IMDS at ${config.imdsEndpoint} is unreachable: not an Azure VM?)`
    : /^unexpected status code 404:/.test(message)
      ? notFoundHint
      : ''
  return new PluginError('Internal', reason, `${prefix}: ${message}${hint}`, { cause: err })
}

/** The attestor with production dependencies (what `main.ts` serves). */
export const createDefaultAttestor = (ctx: PluginContext) =>
  createAttestor(createImdsAgentDeps(ctx.log))
