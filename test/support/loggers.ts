import { createHclogLogger } from '../../shared/plugin/index.js'
import type { Logger, LogFields, LogLevel } from '../../shared/plugin/index.js'

/** A logger that keeps its lines, for asserting what was (and was not) logged. */
export function recordingLogger(): Logger & {
  lines: { level: LogLevel; message: string; fields: LogFields }[]
} {
  const lines: { level: LogLevel; message: string; fields: LogFields }[] = []
  const make = (base: LogFields): Logger => ({
    trace: (m, f) => lines.push({ level: 'trace', message: m, fields: { ...base, ...f } }),
    debug: (m, f) => lines.push({ level: 'debug', message: m, fields: { ...base, ...f } }),
    info: (m, f) => lines.push({ level: 'info', message: m, fields: { ...base, ...f } }),
    warn: (m, f) => lines.push({ level: 'warn', message: m, fields: { ...base, ...f } }),
    error: (m, f) => lines.push({ level: 'error', message: m, fields: { ...base, ...f } }),
    with: (f) => make({ ...base, ...f }),
  })
  return Object.assign(make({}), { lines })
}

export const QUIET_LOGGER: Logger = createHclogLogger({ write: () => {}, level: 'error' })
