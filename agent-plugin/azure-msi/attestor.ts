import { fetchMsiToken, imdsCallOptions } from '../../shared/azure/imds.js'
import { encodeMsiPayload } from '../../shared/azure/payloads.js'
import { PluginError, type AgentAttestor, type PluginContext } from '../../shared/plugin/index.js'
import type { MsiAgentConfig } from './config.js'
import { createImdsAgentDeps, type ImdsAgentDeps as Deps } from '../../shared/azure/imds.js'

/**
 * The azure_msi agent attestor: one IMDS token request, sent as `{"token":"<jwt>"}` (upstream's
 * exact bytes); no challenge. The token is never logged.
 */
export function createAttestor(deps: Deps): AgentAttestor<MsiAgentConfig> {
  return {
    async payload(config, io) {
      let token: string
      try {
        token = await fetchMsiToken({
          ...imdsCallOptions(deps, config, io.signal),
          resource: config.resourceId,
          identity: config.identity,
        })
      } catch (err) {
        // upstream parity: `unable to fetch token: <err>`
        const message = err instanceof Error ? err.message : String(err)
        throw new PluginError(
          'Internal',
          'token_fetch_failed',
          `unable to fetch token: ${message}`,
          { cause: err },
        )
      }
      deps.log.debug('Fetched managed identity token', {
        resource: config.resourceId,
        identity: config.identity.kind,
      })
      return encodeMsiPayload(token)
    },
  }
}

/** The attestor with production dependencies (what `main.ts` serves). */
export const createDefaultAttestor = (ctx: PluginContext) =>
  createAttestor(createImdsAgentDeps(ctx.log))
