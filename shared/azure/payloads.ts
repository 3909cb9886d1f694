import { PluginError } from '../plugin/index.js'

/**
 * Wire shapes both sides share, byte-compatible with upstream SPIRE (`pkg/common/plugin/azure`):
 * what our agents send, upstream servers accept, and the other way round.
 */

/** azure_msi agent → server, the first and only payload: `{"token":"<jwt>"}`. */
export interface MsiAttestationData {
  token: string
}

/** Go's `json.Marshal` of a string: JSON.stringify plus Go's HTML-safe escapes. */
export function goJsonString(value: string): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
  })
}

/** The exact bytes upstream's agent marshals. */
export function encodeMsiPayload(token: string): Uint8Array {
  return Buffer.from(`{"token":${goJsonString(token)}}`, 'utf8')
}

/** Upper bound on the payload; a 24 h MSI token with every optional claim is ~2 KiB. */
export const MAX_MSI_PAYLOAD_BYTES = 64 * 1024

/**
 * Decodes the payload as Go's `json.Unmarshal` into `MSIAttestationData` does: keys match
 * case-insensitively (the last matching key wins), unknown keys are ignored, `null` leaves the
 * token empty. Errors are `InvalidArgument "failed to unmarshal data payload: <reason>"`; type
 * errors use Go's wording, syntax errors JSON.parse's (Go's scanner texts are not reproduced).
 */
export function parseMsiPayload(bytes: Uint8Array): MsiAttestationData {
  // deviation: upstream has no size limit (docs/plugin_server_nodeattestor_azure_msi.md)
  const untrusted = parsePayloadJson(bytes, MAX_MSI_PAYLOAD_BYTES)
  if (untrusted === null) return { token: '' }
  if (typeof untrusted !== 'object' || Array.isArray(untrusted)) {
    throw unmarshalError(
      `json: cannot unmarshal ${goJsonKind(untrusted)} into Go value of type azure.MSIAttestationData`,
    )
  }
  let token = ''
  for (const [key, value] of Object.entries(untrusted)) {
    if (key.toLowerCase() !== 'token') continue
    if (value === null) continue
    if (typeof value !== 'string') {
      throw unmarshalError(
        `json: cannot unmarshal ${goJsonKind(value)} into Go struct field MSIAttestationData.token of type string`,
      )
    }
    token = value
  }
  return { token }
}

/**
 * An attestation payload as untrusted JSON, at most `maxBytes` long; failures in upstream's words
 * (`failed to unmarshal data payload: …`).
 */
export function parsePayloadJson(bytes: Uint8Array, maxBytes: number): unknown {
  if (bytes.length > maxBytes) throw unmarshalError(`payload exceeds ${maxBytes} bytes`)
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err)
    throw unmarshalError(msg.charAt(0).toLowerCase() + msg.slice(1))
  }
}

export function unmarshalError(reason: string): PluginError {
  return new PluginError(
    'InvalidArgument',
    'malformed_payload',
    `failed to unmarshal data payload: ${reason}`,
  )
}

/** How Go's decoder names a JSON value's kind in `cannot unmarshal <kind> into …`. */
export function goJsonKind(value: unknown): string {
  if (Array.isArray(value)) return 'array'
  switch (typeof value) {
    case 'string':
      return 'string'
    case 'number':
      return 'number'
    case 'boolean':
      return 'bool'
    case 'object':
      return value === null ? 'null' : 'object'
    default:
      return typeof value
  }
}
