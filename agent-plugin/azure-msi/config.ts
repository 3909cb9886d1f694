import { buildDurationMs, buildImdsEndpoint } from '../../shared/azure/tenant-access.js'
import {
  IMDS_REQUEST_TIMEOUT_MS,
  IMDS_RETRY_BUDGET_MS,
  type MsiIdentitySelector,
} from '../../shared/azure/imds.js'
import { isGuid, parseArmIdOf } from '../../shared/azure/resource-id.js'
import { h, parseAndDecode, type Infer } from '../../shared/go/hcl/index.js'
import type { BuildConfig, Report } from '../../shared/plugin/index.js'

export const PLUGIN_NAME = 'azure_msi'
/** upstream parity: azure.DefaultMSIResourceID */
export const DEFAULT_RESOURCE_ID = 'https://management.azure.com/'

export const RAW_CONFIG_SCHEMA = h.object({
  resource_id: h.string(),
  client_id: h.string(),
  object_id: h.string(),
  msi_res_id: h.string(),
  imds_endpoint: h.string(),
  request_timeout: h.string(),
  retry_timeout: h.string(),
})
export type RawConfig = Infer<typeof RAW_CONFIG_SCHEMA>

export interface MsiAgentConfig {
  /** The token audience to request (ARM by default, as upstream). */
  resourceId: string
  identity: MsiIdentitySelector
  imdsEndpoint: string
  requestTimeoutMs: number
  /** Total time spent retrying IMDS (Azure: up to 70 s for 410). */
  retryTimeoutMs: number
}

export const buildConfig: BuildConfig<MsiAgentConfig> = (hcl, _core, report) => {
  const raw = parseAndDecode(hcl, RAW_CONFIG_SCHEMA, report)
  if (raw === undefined) return undefined
  return buildFromRaw(raw, report)
}

export function buildFromRaw(raw: RawConfig, report: Report): MsiAgentConfig | undefined {
  const identity = identitySelector(raw, report)
  const imdsEndpoint = buildImdsEndpoint(raw.imds_endpoint, report)
  const requestTimeoutMs = buildDurationMs(
    raw.request_timeout,
    'request_timeout',
    IMDS_REQUEST_TIMEOUT_MS,
    report,
  )
  const retryTimeoutMs = buildDurationMs(
    raw.retry_timeout,
    'retry_timeout',
    IMDS_RETRY_BUDGET_MS,
    report,
  )
  if (!report.ok || identity === undefined) return undefined
  return {
    resourceId: raw.resource_id || DEFAULT_RESOURCE_ID,
    identity,
    imdsEndpoint,
    requestTimeoutMs,
    retryTimeoutMs,
  }
}

/** deviation: upstream cannot pick a user-assigned identity (docs/plugin_agent_nodeattestor_azure_msi.md). */
function identitySelector(raw: RawConfig, report: Report): MsiIdentitySelector | undefined {
  const given = (['client_id', 'object_id', 'msi_res_id'] as const).filter(
    (k) => (raw[k] ?? '') !== '',
  )
  if (given.length > 1) {
    report.error(
      'only one of client_id, object_id or msi_res_id may be set',
      ...given.map((k) => [k]),
    )
    return undefined
  }
  const kind = given[0]
  if (kind === undefined) return { kind: 'default' }
  const value = (raw[kind] ?? '').trim()
  if (kind === 'msi_res_id') {
    if (parseArmIdOf(value, 'uami') === undefined) {
      report.error(
        `msi_res_id ${JSON.stringify(value)} is not a user-assigned identity resource ID`,
        [kind],
      )
    }
  } else if (!isGuid(value)) {
    report.error(`${kind} ${JSON.stringify(value)} must be a GUID`, [kind])
  }
  return { kind, value }
}
