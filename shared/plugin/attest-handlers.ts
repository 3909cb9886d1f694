import { isPluginError, PluginError } from './errors.js'
import type { Handler, ServerCall } from './grpc-server.js'
import type { Metrics } from './host-services.js'
import type { Logger } from './logger.js'
import type {
  AgentChallenge,
  PayloadOrChallengeResponse,
  ServerAttestRequest,
  ServerAttestResponse,
} from './messages.js'
import { toStatus } from './status.js'
import type { AgentAttestor, AgentAttributes, AttestIo, ServerAttestor } from './types.js'

/** SPIRE sends the payload as soon as it opens Attest; anything slower is a broken host. */
export const FIRST_MESSAGE_TIMEOUT_MS = 30_000
/** Bound on one agent round trip (agent → IMDS → agent → server) for a challenge response. */
export const CHALLENGE_RESPONSE_TIMEOUT_MS = 60_000

export interface AttestRuntime<C> {
  /** SPIRE's plugin name: the first part of the envelope's metric keys. */
  name: string
  attestor(): Promise<ServerAttestor<C> | AgentAttestor<C>>
  config(): C
  log: Logger
  /** The Metrics host service (a no-op before Init or without it). */
  metrics(): Metrics
  /** Epoch milliseconds: the envelope's clock. */
  now(): number
}

/**
 * The attestation envelope every server attestor runs in, owned here rather than by each attestor:
 * one outcome counter and one elapsed-time sample per attestation (`<plugin>.attest{result, reason}`,
 * `<plugin>.attest.elapsed_ms{result}`), one "Agent attested" line with the attestor's facts, and
 * errors mapped to gRPC statuses by `toStatus` — so every attestor counts, times and reports alike.
 */
async function envelope<C>(
  rt: AttestRuntime<C>,
  attest: () => Promise<AgentAttributes>,
): Promise<AgentAttributes> {
  const start = rt.now()
  try {
    const attrs = await attest()
    const elapsed = rt.now() - start
    rt.log.info('Agent attested', {
      spiffe_id: attrs.spiffeId,
      ...attrs.logFields,
      elapsed_ms: elapsed,
    })
    rt.metrics().incrCounter([rt.name, 'attest'], 1, { result: 'ok' })
    rt.metrics().addSample([rt.name, 'attest', 'elapsed_ms'], elapsed, { result: 'ok' })
    return attrs
  } catch (err) {
    // an unexpected error is logged once, by toStatus
    const reason = isPluginError(err) ? err.reason : 'internal'
    rt.metrics().incrCounter([rt.name, 'attest'], 1, { result: 'refused', reason })
    rt.metrics().addSample([rt.name, 'attest', 'elapsed_ms'], rt.now() - start, {
      result: 'refused',
    })
    throw err
  }
}

/** Ends a call with the error's gRPC status unless the host already went away. */
function fail(call: ServerCall<unknown, unknown>, err: unknown, log: Logger): void {
  if (call.cancelled) return
  call.end(toStatus(err, log))
}

/**
 * An AbortController for one call: aborted when SPIRE cancels it or the plugin shuts down (the
 * server cancels every open call then).
 */
function callSignal(call: ServerCall<unknown, unknown>): AbortController {
  const controller = new AbortController()
  call.onCancel(() => controller.abort(new Error('stream cancelled')))
  return controller
}

/** spire.plugin.server.nodeattestor.v1.NodeAttestor/Attest → `attestor.attest(payload, config, io)`. */
export function serverAttestHandler<C>(rt: AttestRuntime<C>): Handler {
  return (untyped): void => {
    const call = untyped as unknown as ServerCall<ServerAttestRequest, ServerAttestResponse>
    const controller = callSignal(call)
    const run = async (): Promise<AgentAttributes> => {
      // read the config once: a Configure landing mid-attestation must not change the rules halfway
      const config = rt.config()
      const attestor = (await rt.attestor()) as ServerAttestor<C>
      const first = await call.next('the attestation payload', FIRST_MESSAGE_TIMEOUT_MS)
      if (first === undefined) {
        throw new PluginError('InvalidArgument', 'missing_payload', 'missing attestation payload')
      }
      const payload = first.payload
      if (first.request !== 'payload' || payload === undefined || payload.length === 0) {
        throw new PluginError('InvalidArgument', 'missing_payload', 'missing attestation payload')
      }
      const io: AttestIo = {
        signal: controller.signal,
        get metadata() {
          return call.metadata()
        },
        challenge: async (data) => {
          call.write({ challenge: Buffer.from(data) })
          const reply = await call.next('the challenge response', CHALLENGE_RESPONSE_TIMEOUT_MS)
          if (reply === undefined) {
            throw new PluginError(
              'Cancelled',
              'stream_ended',
              'stream ended before the challenge response',
            )
          }
          const response = reply.challenge_response
          if (reply.request !== 'challenge_response' || response === undefined) {
            throw new PluginError(
              'InvalidArgument',
              'missing_challenge_response',
              'expected a challenge response',
            )
          }
          return new Uint8Array(response)
        },
      }
      const attrs = await attestor.attest(new Uint8Array(payload), config, io)
      if (attrs.spiffeId === '') {
        throw new PluginError('Internal', 'missing_agent_id', 'attestor returned no agent ID')
      }
      // the attestation is counted and logged even when SPIRE went away before the answer
      call.write({
        agent_attributes: {
          spiffe_id: attrs.spiffeId,
          selector_values: attrs.selectorValues,
          can_reattest: attrs.canReattest,
        },
      })
      call.end()
      return attrs
    }
    envelope(rt, run).catch((err: unknown) => fail(call, err, rt.log))
  }
}

/** spire.plugin.agent.nodeattestor.v1.NodeAttestor/AidAttestation: payload unprompted, then answers. */
export function agentAttestHandler<C>(rt: AttestRuntime<C>): Handler {
  return (untyped): void => {
    const call = untyped as unknown as ServerCall<AgentChallenge, PayloadOrChallengeResponse>
    const controller = callSignal(call)
    const io = { signal: controller.signal }
    const run = async (): Promise<void> => {
      const config = rt.config()
      const attestor = (await rt.attestor()) as AgentAttestor<C>
      const payload = await attestor.payload(config, io)
      if (payload.length === 0) {
        throw new PluginError('Internal', 'empty_payload', 'attestor produced an empty payload')
      }
      if (call.cancelled) return
      call.write({ payload: Buffer.from(payload) })
      if (attestor.respond === undefined) {
        call.end()
        return
      }
      for (;;) {
        // the agent cancels the stream once attestation is over: that ends this loop
        const msg = await call.next('a challenge')
        if (msg === undefined) {
          call.end()
          return
        }
        const challenge = msg.challenge ?? Buffer.alloc(0)
        const response = await attestor.respond(new Uint8Array(challenge), config, io)
        if (response.length === 0) {
          throw new PluginError(
            'Internal',
            'empty_response',
            'attestor produced an empty challenge response',
          )
        }
        if (call.cancelled) return
        call.write({ challenge_response: Buffer.from(response) })
      }
    }
    run().catch((err: unknown) => {
      if (err instanceof PluginError && err.reason === 'stream_cancelled') return
      fail(call, err, rt.log)
    })
  }
}
