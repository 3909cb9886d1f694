import { goJsonKind, goJsonString, parsePayloadJson, unmarshalError } from './payloads.js'

/**
 * azure_imds wire shapes both sides share, byte-compatible with upstream SPIRE
 * (`pkg/common/plugin/azure/imds.go`): the agent's first payload, and its challenge response
 * `{"document":{"encoding","signature"},"metadata":{"agentDomain","vmssName"}}`.
 */

/** upstream parity: the agent's first payload; its content is ignored by the server. */
export const IMDS_INITIAL_PAYLOAD = 'non_empty_payload'

/** The IMDS `/metadata/attested/document` response, relayed as is. */
export interface ImdsDocument {
  encoding: string
  signature: string
}

/** Hints from the agent. Nothing here is signed: they only route server-side lookups. */
export interface ImdsUntrustedMetadata {
  /** upstream: the agent's `tenant_domain`, which picks the tenant config. */
  agentDomain: string
  /** upstream: `compute.vmScaleSetName`, or null outside a scale set. */
  vmssName: string | null
  /**
   * Ours, optional: `compute.resourceId` from `/metadata/instance`, so the server can read the VM
   * directly. Upstream servers ignore it; upstream agents do not send it (null).
   */
  resourceId: string | null
}

export interface ImdsAttestationPayload {
  document: ImdsDocument
  metadata: ImdsUntrustedMetadata
}

/** A 64 KiB cap: a real response is ~5 KiB. */
export const MAX_IMDS_PAYLOAD_BYTES = 64 * 1024

/**
 * The exact bytes upstream's agent marshals (Go field order, Go's HTML-safe escaping), plus our
 * `resourceId` after upstream's fields when there is one.
 */
export function encodeImdsPayload(payload: ImdsAttestationPayload): Uint8Array {
  const { document: d, metadata: m } = payload
  const opt = (v: string | null): string => (v === null ? 'null' : goJsonString(v))
  const extra = m.resourceId === null ? '' : `,"resourceId":${goJsonString(m.resourceId)}`
  return Buffer.from(
    `{"document":{"encoding":${goJsonString(d.encoding)},"signature":${goJsonString(d.signature)}},` +
      `"metadata":{"agentDomain":${goJsonString(m.agentDomain)},"vmssName":${opt(m.vmssName)}${extra}}}`,
    'utf8',
  )
}

/**
 * Decodes a challenge response as Go's `json.Unmarshal` into `IMDSAttestationPayload` does: keys
 * match case-insensitively (the last one wins), unknown keys are ignored, `null` leaves a field at
 * its zero value. Errors are `InvalidArgument "failed to unmarshal data payload: <reason>"`.
 */
export function parseImdsPayload(bytes: Uint8Array): ImdsAttestationPayload {
  // deviation: upstream has no size limit (docs/plugin_server_nodeattestor_azure_imds.md)
  const untrusted = parsePayloadJson(bytes, MAX_IMDS_PAYLOAD_BYTES)
  const out: ImdsAttestationPayload = {
    document: { encoding: '', signature: '' },
    metadata: { agentDomain: '', vmssName: null, resourceId: null },
  }
  if (untrusted === null) return out
  const top = object(untrusted, 'Go value of type azure.IMDSAttestationPayload')
  const doc = field(top, 'document')
  if (doc !== undefined && doc !== null) {
    const d = object(
      doc,
      'Go struct field IMDSAttestationPayload.document of type azure.AttestedDocument',
    )
    out.document.encoding = stringField(d, 'encoding', 'AttestedDocument.document.encoding') ?? ''
    out.document.signature =
      stringField(d, 'signature', 'AttestedDocument.document.signature') ?? ''
  }
  const md = field(top, 'metadata')
  if (md !== undefined && md !== null) {
    const m = object(
      md,
      'Go struct field IMDSAttestationPayload.metadata of type azure.AgentUntrustedMetadata',
    )
    out.metadata.agentDomain =
      stringField(m, 'agentDomain', 'AgentUntrustedMetadata.metadata.agentDomain') ?? ''
    out.metadata.vmssName =
      stringField(m, 'vmssName', 'AgentUntrustedMetadata.metadata.vmssName') ?? null
    out.metadata.resourceId =
      stringField(m, 'resourceId', 'AgentUntrustedMetadata.metadata.resourceId') ?? null
  }
  return out
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw unmarshalError(`json: cannot unmarshal ${goJsonKind(value)} into ${what}`)
  }
  return value as Record<string, unknown>
}

/** The value of the last key matching `name` case-insensitively; undefined when absent. */
function field(obj: Record<string, unknown>, name: string): unknown {
  let value: unknown
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === name.toLowerCase()) value = v
  return value
}

/** A string field: undefined when absent or null (Go leaves the zero value). */
function stringField(obj: Record<string, unknown>, name: string, path: string): string | undefined {
  const v = field(obj, name)
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') {
    throw unmarshalError(
      `json: cannot unmarshal ${goJsonKind(v)} into Go struct field ${path} of type string`,
    )
  }
  return v
}
