import { IMDS_ENDPOINT } from './clouds.js'
import { parseGoDuration } from '../go/duration.js'

/** Where config builders report problems (the plugin runtime's Report fits). */
export interface ConfigProblems {
  error(message: string): void
}

/** `imds_endpoint`: an http(s) base URL without query or fragment; IMDS's own address when unset. */
export function buildImdsEndpoint(value: string | undefined, problems: ConfigProblems): string {
  if (value === undefined || value === '') return IMDS_ENDPOINT
  let u: URL | undefined
  try {
    u = new URL(value)
  } catch {
    u = undefined
  }
  if (
    u === undefined ||
    (u.protocol !== 'http:' && u.protocol !== 'https:') ||
    u.search !== '' ||
    u.hash !== ''
  ) {
    problems.error(`imds_endpoint ${JSON.stringify(value)} must be an http(s) URL without query`)
    return IMDS_ENDPOINT
  }
  return value.replace(/\/+$/, '')
}

/** A positive Go duration setting (`"10s"`) in milliseconds; `fallback` when unset. */
export function buildDurationMs(
  value: string | undefined,
  key: string,
  fallback: number,
  problems: ConfigProblems,
): number {
  if (value === undefined || value === '') return fallback
  const ms = parseGoDuration(value)
  if (ms === undefined || ms <= 0) {
    problems.error(`${key} ${JSON.stringify(value)} must be a positive duration such as "10s"`)
    return fallback
  }
  return ms
}
