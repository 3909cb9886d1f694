import { goJsonKind } from '../../shared/azure/payloads.js'
import { PluginError, type FailureReason } from '../../shared/plugin/index.js'
import { documentError } from './document.js'

/** Clock skew tolerated between Azure's clock and ours on both ends of the validity window. */
export const DOCUMENT_CLOCK_SKEW_MS = 5 * 60_000

/** The signed JSON, as far as the attestor reads it. Strings are "" when absent (Go's zero value). */
export interface DocumentContent {
  subscriptionId: string
  vmId: string
  nonce: string
  createdOn: string
  expiresOn: string
}

/** upstream parity: Go's json.Unmarshal into AttestedDocumentContent (case-insensitive keys). */
export function parseDocumentContent(bytes: Buffer): DocumentContent {
  let untrusted: unknown
  try {
    untrusted = JSON.parse(bytes.toString('utf8'))
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err)
    throw documentError(
      'malformed_content',
      `failed to unmarshal attested document payload: ${msg}`,
    )
  }
  if (typeof untrusted !== 'object' || untrusted === null || Array.isArray(untrusted)) {
    throw documentError(
      'malformed_content',
      `failed to unmarshal attested document payload: json: cannot unmarshal ${goJsonKind(untrusted)} into Go value of type azure.AttestedDocumentContent`,
    )
  }
  const field = (obj: object, name: string, path: string): string => {
    let value = ''
    for (const [k, v] of Object.entries(obj)) {
      if (k.toLowerCase() !== name.toLowerCase() || v === null) continue
      if (typeof v !== 'string') {
        throw documentError(
          'malformed_content',
          `failed to unmarshal attested document payload: json: cannot unmarshal ${goJsonKind(v)} into Go struct field ${path} of type string`,
        )
      }
      value = v
    }
    return value
  }
  const ts = Object.entries(untrusted).find(([k]) => k.toLowerCase() === 'timestamp')?.[1]
  const stamps = typeof ts === 'object' && ts !== null && !Array.isArray(ts) ? ts : {}
  return {
    subscriptionId: field(untrusted, 'subscriptionId', 'AttestedDocumentContent.subscriptionId'),
    vmId: field(untrusted, 'vmId', 'AttestedDocumentContent.vmId'),
    nonce: field(untrusted, 'nonce', 'AttestedDocumentContent.nonce'),
    createdOn: field(stamps, 'createdOn', 'timeStamp.createdOn'),
    expiresOn: field(stamps, 'expiresOn', 'timeStamp.expiresOn'),
  }
}

/**
 * The content checks, in upstream's order (steps 7–10), then the validity window upstream never
 * checks: created not after now + skew, not expired before now − skew.
 */
export function checkDocumentContent(
  content: DocumentContent,
  expected: { nonce: string; now: Date },
): void {
  if (content.vmId === '') throw invalid('missing_vm_id', 'missing VM ID in attested document')
  if (content.subscriptionId === '') {
    throw invalid('missing_subscription_id', 'missing subscription ID in attested document')
  }
  if (content.nonce !== expected.nonce) throw invalid('nonce_mismatch', 'nonce mismatch')
  const uuidProblem = uuidFormatProblem(content.vmId)
  if (uuidProblem !== undefined) {
    throw invalid(
      'invalid_vm_id',
      `invalid VM ID: invalid UUID format: ${JSON.stringify(content.vmId)}: ${uuidProblem}`,
    )
  }
  checkValidityWindow(content, expected.now)
}

/** deviation: upstream ignores timeStamp (docs/plugin_server_nodeattestor_azure_imds.md). */
export function checkValidityWindow(content: DocumentContent, now: Date): void {
  const created = parseAzureTimestamp(content.createdOn)
  const expires = parseAzureTimestamp(content.expiresOn)
  if (created === undefined || expires === undefined || expires.getTime() < created.getTime()) {
    throw invalid(
      'invalid_timestamp',
      `invalid timeStamp in attested document (createdOn ${JSON.stringify(content.createdOn)}, expiresOn ${JSON.stringify(content.expiresOn)})`,
    )
  }
  const t = now.getTime()
  if (created.getTime() > t + DOCUMENT_CLOCK_SKEW_MS) {
    throw invalid(
      'document_not_yet_valid',
      `attested document was created in the future (createdOn ${content.createdOn})`,
    )
  }
  if (expires.getTime() < t - DOCUMENT_CLOCK_SKEW_MS) {
    throw invalid(
      'document_expired',
      `attested document has expired (expiresOn ${content.expiresOn})`,
    )
  }
}

const AZURE_TIMESTAMP_RE =
  /^(\d{2})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/

/** `MM/DD/YY HH:MM:SS ±HHMM` (azure-facts §2.4) as a UTC instant; undefined when malformed. */
export function parseAzureTimestamp(text: string): Date | undefined {
  const m = AZURE_TIMESTAMP_RE.exec(text)
  if (m === null) return undefined
  const [mo, d, y, h, mi, s, sign, oh, om] = m.slice(1).map((x) => x ?? '')
  const month = Number(mo)
  const day = Number(d)
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > 31 ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(s) > 59
  ) {
    return undefined
  }
  const utc = Date.UTC(2000 + Number(y), month - 1, day, Number(h), Number(mi), Number(s))
  if (new Date(utc).getUTCDate() !== day) return undefined
  const offsetMs = (Number(oh) * 60 + Number(om)) * 60_000 * (sign === '-' ? -1 : 1)
  return new Date(utc - offsetMs)
}

const CANONICAL_UUID_RE =
  /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

/**
 * gofrs/uuid FromString's wording for a bad UUID. deviation: only the canonical 8-4-4-4-12 form is
 * accepted (Azure's form; the value is later embedded in a Resource Graph query).
 */
export function uuidFormatProblem(text: string): string | undefined {
  if (CANONICAL_UUID_RE.test(text)) return undefined
  if (![32, 36, 38, 41, 45].includes(text.length)) {
    return `uuid: incorrect UUID length ${Buffer.byteLength(text)} in string ${JSON.stringify(text)}`
  }
  return `uuid: incorrect UUID format in string ${JSON.stringify(text)}`
}

/** upstream parity: a non-empty `restrict_to_subscriptions` is an allow-list. */
export function authorizeSubscription(
  subscriptionId: string,
  allowed: ReadonlySet<string> | undefined,
): void {
  if (allowed === undefined || allowed.size === 0) return
  if (allowed.has(subscriptionId.toLowerCase())) return
  throw new PluginError(
    'PermissionDenied',
    'subscription_not_authorized',
    `subscription ${JSON.stringify(subscriptionId)} is not authorized`,
  )
}

function invalid(reason: FailureReason, message: string): PluginError {
  return new PluginError('InvalidArgument', reason, message)
}
