#!/usr/bin/env node
import { serve } from '../../shared/plugin/index.js'
import { createDefaultAttestor as createAttestor } from './attestor.js'
import { buildConfig, PLUGIN_NAME } from './config.js'
serve({ name: PLUGIN_NAME, side: 'agent', buildConfig, createAttestor })
