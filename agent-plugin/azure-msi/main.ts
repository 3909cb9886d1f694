#!/usr/bin/env node
import { createImdsAgentDeps } from '../../shared/azure/imds.js'
import { serve } from '../../shared/plugin/index.js'
import { createAttestor } from './attestor.js'
import { buildConfig, PLUGIN_NAME } from './config.js'

serve({
  name: PLUGIN_NAME,
  side: 'agent',
  buildConfig,
  createAttestor: (ctx) => createAttestor(createImdsAgentDeps(ctx.log)),
})
