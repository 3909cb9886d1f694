#!/usr/bin/env node
import { serve } from '../../shared/plugin/index.js'
import { buildConfig, PLUGIN_NAME } from './config.js'
import { createDeferredAttestor } from './deferred.js'

serve({
  name: PLUGIN_NAME,
  side: 'server',
  buildConfig,
  createAttestor: createDeferredAttestor,
})
