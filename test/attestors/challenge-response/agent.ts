import { h, parseAndDecode } from '../../../shared/go/hcl/index.js'
import type {
  AgentAttestor,
  AgentPluginDefinition,
  BuildConfig,
  PluginContext,
} from '../../../shared/plugin/index.js'
import { challengeResponse, PLUGIN_NAME, type CrPayload } from './common.js'

const SCHEMA = h.object({
  secret: h.string(),
  identity: h.string(),
  selectors: h.list(h.string()),
  // test hook: write to console and stdout during attestation, to prove the runtime keeps stdout clean
  noisy: h.bool(),
})

export interface CrAgentConfig {
  secret: string
  identity: string
  selectors: string[]
  noisy: boolean
}

export const buildAgentConfig: BuildConfig<CrAgentConfig> = (hcl, _core, report) => {
  const raw = parseAndDecode(hcl, SCHEMA, report)
  if (raw === undefined) return undefined
  if (!raw.secret) report.error('secret is required')
  if (!raw.identity) report.error('identity is required')
  if (!report.ok) return undefined
  return {
    secret: raw.secret ?? '',
    identity: raw.identity ?? '',
    selectors: raw.selectors ?? [],
    noisy: raw.noisy ?? false,
  }
}

export function createAgentAttestor(ctx: PluginContext): AgentAttestor<CrAgentConfig> {
  return {
    async payload(config) {
      ctx.log.info('Sending attestation payload', { identity: config.identity })
      if (config.noisy) {
        console.log('stray console.log')
        process.stdout.write('stray stdout write\n')
      }
      const body: CrPayload = { identity: config.identity, selectors: config.selectors }
      return Buffer.from(JSON.stringify(body))
    },
    async respond(challenge, config) {
      ctx.log.debug('Answering challenge')
      ctx.metrics.incrCounter([PLUGIN_NAME, 'challenge'])
      return challengeResponse(config.secret, challenge, config.identity)
    },
  }
}

export const agentDefinition: AgentPluginDefinition<CrAgentConfig> = {
  name: PLUGIN_NAME,
  side: 'agent',
  buildConfig: buildAgentConfig,
  createAttestor: createAgentAttestor,
}
