/**
 * The one clock type: epoch milliseconds, injected wherever code reads the time (deps, caches, retry
 * gates, the attestation envelope), so a test sets time instead of waiting for it. Pure functions
 * that check validity take the instant they are given (a Date made from the clock at the call).
 */
export type Clock = () => number

export const systemClock: Clock = () => Date.now()
