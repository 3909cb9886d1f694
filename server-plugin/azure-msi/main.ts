#!/usr/bin/env node
import { serve } from '../../shared/plugin/index.js'
import { buildConfig, PLUGIN_NAME } from './config.js'

serve({
  name: PLUGIN_NAME,
  side: 'server',
  buildConfig,
  // deferred: the verifier, jose and the Azure clients load after Init, off the handshake's path
  createAttestor: async (ctx) => {
    const [{ createAttestor }, { createDefaultDeps }] = await Promise.all([
      import('./attestor.js'),
      import('./deps.js'),
    ])
    return createAttestor(createDefaultDeps(ctx))
  },
})
