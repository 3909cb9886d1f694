/** hclog levels SPIRE understands (hclog.LevelFromString), plus how unparsed lines land. */
export type HostLogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error'

export interface PluginLogEntry {
  level: HostLogLevel
  message: string
  fields: Record<string, unknown>
  /** Present when the line parsed as a JSON object with a good timestamp. */
  timestamp?: string
  raw: string
  /** Set when go-plugin's unchecked type assertions would panic the SPIRE process on this line. */
  hostPanic?: string
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error'])
const TIMESTAMP_6 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/
/** go-plugin reads stderr through a 64 KiB buffer; longer lines are split and logged raw at Debug. */
export const HOST_LINE_LIMIT_BYTES = 64 * 1024

/** How go-plugin's client (logStderr + parseJSON) and SPIRE's hclog adapter treat one stderr line. */
export function parsePluginLogLine(raw: string): PluginLogEntry {
  if (Buffer.byteLength(raw) >= HOST_LINE_LIMIT_BYTES) {
    return { level: 'debug', message: raw, fields: {}, raw }
  }
  const trimmed = raw.trim()
  if (trimmed.startsWith('{')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(trimmed)
    } catch {
      parsed = undefined
    }
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return fromJson(parsed as Record<string, unknown>, raw)
    }
  }
  for (const [prefix, level] of [
    ['[TRACE]', 'trace'],
    ['[DEBUG]', 'debug'],
    ['[INFO]', 'info'],
    ['[WARN]', 'warn'],
    ['[ERROR]', 'error'],
  ] as const) {
    if (trimmed.startsWith(prefix)) {
      return { level, message: trimmed.slice(prefix.length).trim(), fields: {}, raw }
    }
  }
  return { level: 'debug', message: trimmed, fields: {}, raw }
}

function fromJson(obj: Record<string, unknown>, raw: string): PluginLogEntry {
  for (const key of ['@message', '@level', '@timestamp']) {
    const v = obj[key]
    if (v !== undefined && typeof v !== 'string') {
      return {
        level: 'error',
        message: raw,
        fields: {},
        raw,
        hostPanic: `panic: interface conversion: interface {} is ${goTypeName(v)}, not string (${key})`,
      }
    }
  }
  const fields: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(obj)) {
    if (k !== '@message' && k !== '@level' && k !== '@timestamp') fields[k] = v
  }
  const ts = obj['@timestamp'] as string | undefined
  if (ts !== undefined && !TIMESTAMP_6.test(ts)) {
    // the timestamp fails hclog's layout: the whole raw JSON is logged at Debug
    return { level: 'debug', message: raw.trim(), fields: {}, raw }
  }
  const level = String(obj['@level'] ?? '').toLowerCase()
  if (!LEVELS.has(level)) return { level: 'debug', message: raw.trim(), fields: {}, raw }
  return {
    level: level as HostLogLevel,
    message: String(obj['@message'] ?? ''),
    fields,
    ...(ts !== undefined ? { timestamp: ts } : {}),
    raw,
  }
}

function goTypeName(v: unknown): string {
  if (typeof v === 'number') return 'float64'
  if (typeof v === 'boolean') return 'bool'
  if (v === null) return 'nil'
  if (Array.isArray(v)) return '[]interface {}'
  return 'map[string]interface {}'
}
