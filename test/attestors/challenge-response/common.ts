import { createHmac } from 'node:crypto'

/**
 * A test-only attestor pair (issue 2): the agent proves knowledge of a shared secret by answering a
 * random challenge with HMAC-SHA256(secret, challenge || identity); selectors come from its payload.
 * It exists to exercise the runtime against real SPIRE, never for production use.
 */
export const PLUGIN_NAME = 'cr_test'

export interface CrPayload {
  identity: string
  selectors: string[]
}

export function challengeResponse(secret: string, challenge: Uint8Array, identity: string): Buffer {
  return createHmac('sha256', secret).update(challenge).update(identity).digest()
}
