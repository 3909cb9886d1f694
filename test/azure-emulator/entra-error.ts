import { randomUUID } from 'node:crypto'
import { json } from './http-kit.js'
import type { Reply } from './http-kit.js'

/** Entra's OAuth error body: `error`, an `AADSTS<code>: …` description, codes and trace ids. */
export function entraError(
  status: number,
  error: string,
  code: number,
  description: string,
): Reply {
  const now = new Date().toISOString()
  const traceId = randomUUID()
  const correlationId = randomUUID()
  return json(status, {
    error,
    error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${now.replace('T', ' ').replace('Z', 'Z')}`,
    error_codes: [code],
    timestamp: now.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    trace_id: traceId,
    correlation_id: correlationId,
  })
}
