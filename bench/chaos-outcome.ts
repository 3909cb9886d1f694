// How the chaos fleet boot (bench/chaos.ts) judges each agent: the retry policy (which Agent API
// errors a booting agent retries), the outcome class of an agent's attempts, and the check of
// what SPIRE recorded (`spire-server agent list`) against the fleet's expected IDs and selectors.
// Pure: no I/O, no clock.

/** What one attestation attempt of an agent ended with. */
export type AttemptResult =
  /** An X509-SVID for the expected agent ID, key and trust bundle. */
  | { kind: 'issued' }
  /** Issued, but the load generator discarded the result (a response lost in transit). */
  | { kind: 'dropped' }
  /** An SVID that fails the check: another agent ID, key or issuer. */
  | { kind: 'wrong-svid'; message: string }
  /** A gRPC status (code) or a transport failure (no code). */
  | { kind: 'error'; code?: number; message: string }

/** gRPC codes. */
export const CODE = {
  Canceled: 1,
  Unknown: 2,
  DeadlineExceeded: 4,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  Aborted: 10,
  Internal: 13,
  Unavailable: 14,
} as const

/** azure_msi's and azure_imds's TOFU refusal, as SPIRE relays it (upstream's wording). */
export const ALREADY_ATTESTED = 'attestation data has already been used to attest an agent'

/** Codes after which the agent cannot know whether SPIRE recorded it, and retries. */
const RETRIABLE = new Set<number>([
  CODE.Canceled,
  CODE.Unknown,
  CODE.DeadlineExceeded,
  CODE.ResourceExhausted,
  CODE.Aborted,
  CODE.Internal,
  CODE.Unavailable,
])

export type ErrorClass = 'retriable' | 'already-attested' | 'refused'

/**
 * A transport failure (connection refused or reset, stream closed without a status, TLS failure
 * while the server restarts, the client's own timeout) and Unavailable/Internal/Unknown/
 * DeadlineExceeded/ResourceExhausted/Aborted/Canceled are retriable; PermissionDenied with the
 * TOFU message is `already-attested`; anything else is a refusal, final.
 */
export function classifyError(code: number | undefined, message: string): ErrorClass {
  if (code === undefined) return 'retriable'
  if (code === CODE.PermissionDenied && message.includes(ALREADY_ATTESTED))
    return 'already-attested'
  return RETRIABLE.has(code) ? 'retriable' : 'refused'
}

/** Whether to try again after this attempt (before the attempt budget is spent). */
export function shouldRetry(r: AttemptResult): boolean {
  if (r.kind === 'dropped') return true
  if (r.kind === 'error') return classifyError(r.code, r.message) === 'retriable'
  return false
}

export type Outcome =
  /** (a) issued on the first attempt. */
  | 'first-try'
  /** (b) issued after one or more retriable errors. */
  | 'after-retry'
  /** (c) refused as already attested after a result the agent never received (injected loss). */
  | 'tofu-after-lost-result'
  /** (c) refused as already attested after a retriable error of an attempt SPIRE had recorded. */
  | 'tofu-after-fault'
  /** Attested with a wrong agent ID, key, issuer or selectors, or issued twice (TOFU broken). */
  | 'wrong'
  /** Anything else: a final refusal, retries spent, or an unexplained TOFU refusal. */
  | 'failed'

export const OUTCOMES: readonly Outcome[] = [
  'first-try',
  'after-retry',
  'tofu-after-lost-result',
  'tofu-after-fault',
  'wrong',
  'failed',
]

/** The outcome of an agent's attempts, in order (the last one final), with a reason unless (a)/(b). */
export function agentOutcome(attempts: readonly AttemptResult[]): {
  outcome: Outcome
  reason?: string
} {
  const last = attempts[attempts.length - 1]
  if (last === undefined) return { outcome: 'failed', reason: 'no attempt' }
  const wrong = attempts.find((a) => a.kind === 'wrong-svid')
  if (wrong !== undefined && wrong.kind === 'wrong-svid')
    return { outcome: 'wrong', reason: wrong.message }
  const issued = attempts.filter((a) => a.kind === 'issued' || a.kind === 'dropped').length
  if (issued > 1) return { outcome: 'wrong', reason: 'issued twice for one agent (TOFU broken)' }
  const before = attempts.slice(0, -1)
  if (last.kind === 'issued') {
    if (before.some((a) => a.kind !== 'error' || classifyError(a.code, a.message) !== 'retriable'))
      return { outcome: 'failed', reason: 'issued after a final answer' }
    return { outcome: before.length === 0 ? 'first-try' : 'after-retry' }
  }
  if (last.kind === 'error') {
    const cls = classifyError(last.code, last.message)
    if (cls === 'already-attested') {
      if (before.some((a) => a.kind === 'dropped')) return { outcome: 'tofu-after-lost-result' }
      if (
        before.some((a) => a.kind === 'error' && classifyError(a.code, a.message) === 'retriable')
      )
        return { outcome: 'tofu-after-fault' }
      return { outcome: 'failed', reason: `already attested on its first attempt: ${last.message}` }
    }
    return {
      outcome: 'failed',
      reason: cls === 'retriable' ? `retries spent: ${last.message}` : last.message,
    }
  }
  return { outcome: 'failed', reason: `ended with ${last.kind}` }
}

export interface AgentRecord {
  expectedId: string
  expectedSelectors: readonly string[]
  outcome: Outcome
  reason?: string
}

export interface ListedAgentLike {
  id: string
  selectors: readonly string[]
}

export interface RecordCheck {
  /** Agents SPIRE holds whose ID is no fleet agent's expected ID. */
  unexpectedIds: string[]
  /** Agents issued or TOFU-refused whose selectors in SPIRE differ from the expected ones. */
  selectorMismatches: { id: string; expected: readonly string[]; got: readonly string[] }[]
  /** Agents issued or TOFU-refused that SPIRE does not hold. */
  missing: string[]
  /** Agents that failed although SPIRE holds them (attested, the agent never knew). */
  recordedButFailed: string[]
}

/**
 * Compares SPIRE's attested agents with the fleet: every issued or TOFU-refused agent must be held
 * with exactly its expected selectors, and nothing else may be held. Selector order is ignored
 * (SPIRE returns them as its datastore does).
 */
export function checkRecorded(
  agents: readonly AgentRecord[],
  listed: readonly ListedAgentLike[],
): RecordCheck {
  const byId = new Map(listed.map((a) => [a.id, a]))
  const expected = new Set(agents.map((a) => a.expectedId))
  const out: RecordCheck = {
    unexpectedIds: listed.filter((a) => !expected.has(a.id)).map((a) => a.id),
    selectorMismatches: [],
    missing: [],
    recordedButFailed: [],
  }
  for (const a of agents) {
    const held = byId.get(a.expectedId)
    if (a.outcome === 'failed' || a.outcome === 'wrong') {
      if (held !== undefined && a.outcome === 'failed') out.recordedButFailed.push(a.expectedId)
      continue
    }
    if (held === undefined) {
      out.missing.push(a.expectedId)
      continue
    }
    const got = [...held.selectors].sort()
    const want = [...a.expectedSelectors].sort()
    if (got.length !== want.length || got.some((s, i) => s !== want[i]))
      out.selectorMismatches.push({ id: a.expectedId, expected: want, got })
  }
  return out
}
