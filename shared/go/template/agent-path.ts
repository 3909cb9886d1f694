// The agent_path_template wrapper (upstream pkg/common/agentpathtemplate) and the SPIFFE ID rules
// (go-spiffe spiffeid.ValidatePath, SPIRE idutil.AgentID) that its output must pass.

import { SpiffeIdError } from './errors.js'
import { AGENT_PATH_FUNCS } from './sprig.js'
import { quote } from '../strconv.js'
import { type Template, parseTemplate } from './template.js'
import type { GoStruct } from './values.js'

/** upstream parity: agentpathtemplate.Parse names every template "agent-path". */
export const AGENT_PATH_TEMPLATE_NAME = 'agent-path'

/**
 * SPIFFE IDs should not exceed 2048 bytes (SPIFFE-ID spec §2.3); the rendered path is capped at that.
 * deviation: upstream has no cap (docs/agent-path-template.md).
 */
export const MAX_AGENT_PATH_BYTES = 2048

/** A parsed agent_path_template. */
export interface AgentPathTemplate {
  readonly text: string
  readonly template: Template
}

/**
 * Parses an agent_path_template as upstream does: Go text/template named "agent-path",
 * Option("missingkey=error"), Go's builtins plus upstream's Sprig allow-list.
 */
export function parseAgentPathTemplate(text: string): AgentPathTemplate {
  const template = parseTemplate(AGENT_PATH_TEMPLATE_NAME, text, {
    funcs: AGENT_PATH_FUNCS,
    missingKey: 'error',
    limits: { maxOutputBytes: MAX_AGENT_PATH_BYTES },
  })
  return { text, template }
}

/**
 * Renders the agent path and checks it as idutil.AgentID does. Throws TemplateError when execution
 * fails and SpiffeIdError (`invalid agent path suffix "<path>": <reason>`) when the path is invalid.
 */
export function buildAgentPath(
  t: AgentPathTemplate,
  data: Readonly<Record<string, unknown>> | GoStruct,
): string {
  const path = t.template.execute(data)
  checkAgentPathSuffix(path)
  return path
}

function checkAgentPathSuffix(path: string): void {
  try {
    validateSpiffePath(path)
  } catch (err) {
    if (err instanceof SpiffeIdError)
      throw new SpiffeIdError(`invalid agent path suffix ${quote(path)}: ${err.message}`)
    throw err
  }
}

const isPathChar = (c: number): boolean =>
  (c >= 0x61 && c <= 0x7a) ||
  (c >= 0x41 && c <= 0x5a) ||
  (c >= 0x30 && c <= 0x39) ||
  c === 0x2d ||
  c === 0x2e ||
  c === 0x5f

const isTrustDomainChar = (c: number): boolean =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f

/**
 * go-spiffe's spiffeid.ValidatePath, byte for byte. upstream parity: the empty path is valid (an
 * agent_path_template that renders "" yields the agent ID `spiffe://<td>/spire/agent`).
 */
export function validateSpiffePath(path: string): void {
  if (path === '') return
  if (path[0] !== '/') throw new SpiffeIdError('path must have a leading slash')
  const bytes = Buffer.from(path, 'utf8')
  let segmentStart = 0
  let segmentEnd = 0
  const segment = (): string => bytes.subarray(segmentStart, segmentEnd).toString('latin1')
  for (; segmentEnd < bytes.length; segmentEnd++) {
    const c = bytes[segmentEnd] ?? 0
    if (c === 0x2f) {
      const s = segment()
      if (s === '/') throw new SpiffeIdError('path cannot contain empty segments')
      if (s === '/.' || s === '/..') throw new SpiffeIdError('path cannot contain dot segments')
      segmentStart = segmentEnd
      continue
    }
    if (!isPathChar(c)) {
      throw new SpiffeIdError(
        'path segment characters are limited to letters, numbers, dots, dashes, and underscores',
      )
    }
  }
  const s = segment()
  if (s === '/') throw new SpiffeIdError('path cannot have a trailing slash')
  if (s === '/.' || s === '/..') throw new SpiffeIdError('path cannot contain dot segments')
}

/**
 * The agent SPIFFE ID for a rendered agent path.
 * upstream parity: idutil.AgentID(td, suffix) validates `suffix` with ValidatePath and returns
 * spiffeid.FromPath(td, "/spire/agent" + suffix), i.e. `spiffe://<td>/spire/agent` followed by the
 * rendered path exactly as rendered (its leading slash supplies the separator; nothing is trimmed or
 * joined). The plugin name reaches the ID only through the template's `.PluginName`, so the
 * three-argument form ignores `pluginName`; it exists for callers written against that signature.
 */
export function buildAgentId(trustDomain: string, path: string): string
export function buildAgentId(trustDomain: string, pluginName: string, path: string): string
export function buildAgentId(trustDomain: string, a: string, b?: string): string {
  const path = b ?? a
  if (trustDomain === '') {
    throw new SpiffeIdError(
      `cannot create agent ID with suffix ${quote(path)} for empty trust domain`,
    )
  }
  for (let i = 0; i < trustDomain.length; i++) {
    if (!isTrustDomainChar(trustDomain.charCodeAt(i))) {
      throw new SpiffeIdError(
        'trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores',
      )
    }
  }

  checkAgentPathSuffix(path)
  return `spiffe://${trustDomain}/spire/agent${path}`
}
