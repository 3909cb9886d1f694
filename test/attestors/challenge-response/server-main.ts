#!/usr/bin/env node
import { serve } from '../../../shared/plugin/index.js'
import { serverDefinition } from './server.js'

serve(serverDefinition)
