import type { PluginContext, ServerAttestor } from '../../shared/plugin/index.js'
import type { ImdsServerConfig } from './config.js'

/**
 * The attestor, loaded in the background as soon as SPIRE has initialised the plugin: pkijs, the
 * verifier and the Azure clients are not on the path to the handshake, so the plugin starts as
 * fast as the runtime alone. The first attestation awaits the load if it is still running.
 */
export function createDeferredAttestor(ctx: PluginContext): ServerAttestor<ImdsServerConfig> {
  const loading = Promise.all([import('./attestor.js'), import('./deps.js')]).then(([a, d]) =>
    a.createAttestor(d.createDefaultDeps(ctx)),
  )
  // a failure surfaces on the first attestation, not as an unhandled rejection now
  loading.catch(() => {})
  return {
    attest: async (payload, config, io) => (await loading).attest(payload, config, io),
  }
}
