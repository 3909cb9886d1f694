/** hclog levels, as strings on the wire (wire-protocol.md §4). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error'

export type LogFields = Record<string, unknown>

/** What plugin code logs through. Messages are constant sentences; variables go in fields. */
export interface Logger {
  trace(message: string, fields?: LogFields): void
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
  /** A logger whose lines carry these fields too. */
  with(fields: LogFields): Logger
}

const LEVEL_ORDER: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 }

/** hclog's timestamp layout `2006-01-02T15:04:05.000000Z07:00`: exactly six fractional digits. */
export function hclogTimestamp(date: Date): string {
  return date.toISOString().slice(0, 23) + '000Z'
}

/** Keeps a line well under go-plugin's 64 KiB stderr buffer, past which SPIRE stops parsing it. */
const MAX_LINE_BYTES = 32 * 1024

export interface HclogWriterOptions {
  write: (line: string) => void
  level?: LogLevel
  now?: () => Date
  module?: string
}

/** One JSON object per line in hclog shape; every `@` field is a string (a number crashes SPIRE). */
export function createHclogLogger(options: HclogWriterOptions, base: LogFields = {}): Logger {
  const min = LEVEL_ORDER[options.level ?? 'trace']
  const now = options.now ?? (() => new Date())
  const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (LEVEL_ORDER[level] < min) return
    const entry: Record<string, unknown> = {
      '@level': level,
      '@message': String(message),
      '@timestamp': hclogTimestamp(now()),
    }
    if (options.module !== undefined) entry['@module'] = options.module
    addFields(entry, base)
    if (fields !== undefined) addFields(entry, fields)
    options.write(serialize(entry) + '\n')
  }
  return {
    trace: (m, f) => emit('trace', m, f),
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    with: (fields) => createHclogLogger(options, { ...base, ...fields }),
  }
}

/** Copies fields into a line; `@` fields are the logger's own. */
function addFields(entry: Record<string, unknown>, fields: LogFields): void {
  for (const k in fields) {
    if (!Object.hasOwn(fields, k) || k.startsWith('@')) continue
    const v = fields[k]
    entry[k] = v instanceof Error ? v.message : v
  }
}

const bigintsAsStrings = (_k: string, v: unknown): unknown =>
  typeof v === 'bigint' ? v.toString() : v

function serialize(entry: Record<string, unknown>): string {
  let line: string
  try {
    // V8's fast path serializes without a replacer; a BigInt field throws and takes the slow one
    try {
      line = JSON.stringify(entry)
    } catch (err) {
      if (!(err instanceof TypeError)) throw err
      line = JSON.stringify(entry, bigintsAsStrings)
    }
  } catch {
    line = JSON.stringify({
      '@level': entry['@level'],
      '@message': entry['@message'],
      '@timestamp': entry['@timestamp'],
      log_error: 'fields not serializable',
    })
  }
  // a UTF-8 byte per UTF-16 unit at least, three at most: most lines need no count
  if (line.length * 3 <= MAX_LINE_BYTES || Buffer.byteLength(line) <= MAX_LINE_BYTES) return line
  return JSON.stringify({
    '@level': entry['@level'],
    '@message': String(entry['@message']).slice(0, 1024),
    '@timestamp': entry['@timestamp'],
    log_truncated: true,
  })
}

/** Above this many pending bytes the lines go out at once rather than at the end of the turn. */
const MAX_PENDING_BYTES = 64 * 1024

/**
 * Lines written during one turn of the event loop leave in one write. Node writes to a pipe on
 * stderr synchronously, one system call per write; under a fleet boot that was one call per log
 * line on the attestation path (issue 12 §3). `flush` writes what is pending now: call it where
 * the process exits (`process.on('exit')`), so no line is lost to an exit.
 */
export function coalescingWriter(
  write: (chunk: string) => void,
  schedule: (fn: () => void) => void = setImmediate,
): { write(line: string): void; flush(): void } {
  let pending: string[] = []
  let bytes = 0
  const flush = (): void => {
    if (pending.length === 0) return
    const chunk = pending.join('')
    pending = []
    bytes = 0
    write(chunk)
  }
  return {
    write(line) {
      if (pending.length === 0) schedule(flush)
      pending.push(line)
      bytes += line.length
      if (bytes >= MAX_PENDING_BYTES) flush()
    },
    flush,
  }
}

/** Discards everything; for tests and tools that do not care. */
export const NOOP_LOGGER: Logger = {
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  with: () => NOOP_LOGGER,
}
