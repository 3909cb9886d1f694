#!/usr/bin/env node
import { deferredAttestor, serve } from '../../shared/plugin/index.js'
import { buildConfig, PLUGIN_NAME } from './config.js'
const createAttestor = deferredAttestor(() => import('./attestor.js'))
serve({ name: PLUGIN_NAME, side: 'server', buildConfig, createAttestor })
