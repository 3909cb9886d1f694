import { buildDurationMs, buildImdsEndpoint } from '../../shared/azure/tenant-access.js'
import {
  ATTESTED_REQUEST_TIMEOUT_MS,
  ATTESTED_RETRY_BUDGET_MS,
} from '../../shared/azure/imds-document.js'
import { h, parseAndDecode, type Infer } from '../../shared/go/hcl/index.js'
import type { BuildConfig, Report } from '../../shared/plugin/index.js'

export const PLUGIN_NAME = 'azure_imds'

export const RAW_CONFIG_SCHEMA = h.object({
  tenant_domain: h.string(),
  imds_endpoint: h.string(),
  request_timeout: h.string(),
  retry_timeout: h.string(),
})
export type RawConfig = Infer<typeof RAW_CONFIG_SCHEMA>

export interface ImdsAgentConfig {
  /** Sent as the `agentDomain` hint: picks the tenant config on the server. */
  tenantDomain: string
  imdsEndpoint: string
  requestTimeoutMs: number
  /** Total time spent retrying each IMDS call; the server waits 60 s for the whole answer. */
  retryTimeoutMs: number
}

/** The server's challenge-response wait; the agent's retries must end well inside it. */
const SERVER_WAIT_MS = 60_000

export const buildConfig: BuildConfig<ImdsAgentConfig> = (hcl, _core, report) => {
  const raw = parseAndDecode(hcl, RAW_CONFIG_SCHEMA, report)
  if (raw === undefined) return undefined
  return buildFromRaw(raw, report)
}

export function buildFromRaw(raw: RawConfig, report: Report): ImdsAgentConfig | undefined {
  const tenantDomain = (raw.tenant_domain ?? '').trim()
  // upstream parity: the only check upstream makes
  if (tenantDomain === '') report.error('tenant_domain is required', ['tenant_domain'])
  const imdsEndpoint = buildImdsEndpoint(raw.imds_endpoint, report)
  const requestTimeoutMs = buildDurationMs(
    raw.request_timeout,
    'request_timeout',
    ATTESTED_REQUEST_TIMEOUT_MS,
    report,
  )
  const retryTimeoutMs = buildDurationMs(
    raw.retry_timeout,
    'retry_timeout',
    ATTESTED_RETRY_BUDGET_MS,
    report,
  )
  if (retryTimeoutMs >= SERVER_WAIT_MS) {
    report.warn(
      `retry_timeout ${JSON.stringify(raw.retry_timeout)} is not below the server's 60s wait for the challenge response`,
      ['retry_timeout'],
    )
  }
  if (!report.ok) return undefined
  return { tenantDomain, imdsEndpoint, requestTimeoutMs, retryTimeoutMs }
}
