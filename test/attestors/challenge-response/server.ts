import { randomBytes, timingSafeEqual } from 'node:crypto'
import { h, parseAndDecode } from '../../../shared/go/hcl/index.js'
import {
  assertNotAttested,
  PluginError,
  type AgentStore,
  type BuildConfig,
  type PluginContext,
  type ServerAttestor,
  type ServerPluginDefinition,
} from '../../../shared/plugin/index.js'
import { challengeResponse, PLUGIN_NAME, type CrPayload } from './common.js'

const SCHEMA = h.object({
  secret: h.string(),
  allowed_identities: h.list(h.string()),
})

export interface CrServerConfig {
  trustDomain: string
  secret: string
  allowedIdentities: ReadonlySet<string> | undefined
}

export const buildServerConfig: BuildConfig<CrServerConfig> = (hcl, core, report) => {
  const raw = parseAndDecode(hcl, SCHEMA, report)
  if (raw === undefined) return undefined
  if (raw.secret === undefined || raw.secret === '') report.error('secret is required')
  if (!report.ok) return undefined
  return {
    trustDomain: core.trustDomain,
    secret: raw.secret ?? '',
    allowedIdentities: raw.allowed_identities ? new Set(raw.allowed_identities) : undefined,
  }
}

const IDENTITY = /^[A-Za-z0-9._-]{1,64}$/

function parsePayload(bytes: Uint8Array): CrPayload {
  let untrusted: unknown
  try {
    untrusted = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (err) {
    throw new PluginError(
      'InvalidArgument',
      'malformed_payload',
      `failed to unmarshal data payload: ${(err as Error).message}`,
    )
  }
  if (typeof untrusted !== 'object' || untrusted === null) {
    throw new PluginError('InvalidArgument', 'malformed_payload', 'payload must be a JSON object')
  }
  const { identity, selectors } = untrusted as Record<string, unknown>
  if (typeof identity !== 'string' || !IDENTITY.test(identity)) {
    throw new PluginError(
      'InvalidArgument',
      'bad_identity',
      'payload identity is missing or malformed',
    )
  }
  if (!Array.isArray(selectors) || !selectors.every((s): s is string => typeof s === 'string')) {
    throw new PluginError(
      'InvalidArgument',
      'bad_selectors',
      'payload selectors must be a list of strings',
    )
  }
  return { identity, selectors }
}

export function createServerAttestor(ctx: PluginContext): ServerAttestor<CrServerConfig> {
  const agentStore = ctx.agentStore as AgentStore
  return {
    async attest(payload, config, io) {
      const untrusted = parsePayload(payload)
      if (config.allowedIdentities && !config.allowedIdentities.has(untrusted.identity)) {
        throw new PluginError(
          'PermissionDenied',
          'identity_not_allowed',
          `identity ${JSON.stringify(untrusted.identity)} is not allowed`,
        )
      }
      const challenge = randomBytes(32)
      const response = await io.challenge(challenge)
      const expected = challengeResponse(config.secret, challenge, untrusted.identity)
      if (response.length !== expected.length || !timingSafeEqual(response, expected)) {
        throw new PluginError(
          'PermissionDenied',
          'bad_challenge_response',
          'challenge response does not match',
        )
      }
      const spiffeId = `spiffe://${config.trustDomain}/spire/agent/${PLUGIN_NAME}/${untrusted.identity}`
      await assertNotAttested(agentStore, spiffeId, ctx.log, io.signal)
      ctx.metrics.incrCounter([PLUGIN_NAME, 'attest', 'success'])
      const selectors = new Set([`identity:${untrusted.identity}`, ...untrusted.selectors])
      return { spiffeId, selectorValues: [...selectors].sort(), canReattest: false }
    },
    // what the runtime hands `warm`, visible to the runtime tests (no secret in the line)
    async warm(config) {
      ctx.log.debug('Attestor warmed', {
        allowed_identities:
          config.allowedIdentities === undefined ? -1 : config.allowedIdentities.size,
      })
    },
  }
}

export const serverDefinition: ServerPluginDefinition<CrServerConfig> = {
  name: PLUGIN_NAME,
  side: 'server',
  buildConfig: buildServerConfig,
  createAttestor: createServerAttestor,
}
