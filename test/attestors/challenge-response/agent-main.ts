#!/usr/bin/env node
import { serve } from '../../../shared/plugin/index.js'
import { agentDefinition } from './agent.js'

serve(agentDefinition)
