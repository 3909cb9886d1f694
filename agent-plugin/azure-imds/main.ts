#!/usr/bin/env node
import { serve } from '../../shared/plugin/index.js'
import { createAttestor } from './attestor.js'
import { buildConfig, PLUGIN_NAME } from './config.js'
import { createDefaultDeps } from './deps.js'

serve({
  name: PLUGIN_NAME,
  side: 'agent',
  buildConfig,
  createAttestor: (ctx) => createAttestor(createDefaultDeps(ctx)),
})
