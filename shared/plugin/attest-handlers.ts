import type { ServerDuplexStream } from '@grpc/grpc-js'
import { isPluginError, PluginError } from './errors.js'
import type { Metrics } from './host-services.js'
import type { Logger } from './logger.js'
import type {
  AgentChallenge,
  PayloadOrChallengeResponse,
  ServerAttestRequest,
  ServerAttestResponse,
} from './messages.js'
import { toStatus } from './status.js'
import { StreamReader } from './stream-reader.js'
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
  /** Aborted when the plugin shuts down. */
  shutdownSignal: AbortSignal
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

/** Emits a gRPC status on a bidi call unless the host already went away (grpc-js: `emit('error')`). */
function fail(call: ServerDuplexStream<unknown, unknown>, err: unknown, log: Logger): void {
  if (call.cancelled || call.destroyed) return
  const status = toStatus(err, log)
  call.emit('error', status)
}

/**
 * An AbortController for one stream: aborted when SPIRE cancels it or the plugin shuts down. The
 * listener on the process-wide shutdown signal is removed when the stream ends, or every
 * attestation would leave one behind.
 */
function streamSignal(
  call: ServerDuplexStream<unknown, unknown>,
  shutdown: AbortSignal,
): AbortController {
  const controller = new AbortController()
  const onShutdown = (): void => controller.abort(new Error('plugin shutting down'))
  shutdown.addEventListener('abort', onShutdown, { once: true })
  const release = (): void => shutdown.removeEventListener('abort', onShutdown)
  call.on('cancelled', () => {
    controller.abort(new Error('stream cancelled'))
    release()
  })
  for (const event of ['finish', 'close', 'error']) call.once(event, release)
  return controller
}

/** spire.plugin.server.nodeattestor.v1.NodeAttestor/Attest → `attestor.attest(payload, config, io)`. */
export function serverAttestHandler<C>(rt: AttestRuntime<C>) {
  return (call: ServerDuplexStream<ServerAttestRequest, ServerAttestResponse>): void => {
    const controller = streamSignal(call, rt.shutdownSignal)
    const reader = new StreamReader<ServerAttestRequest>(call)
    const run = async (): Promise<AgentAttributes> => {
      // read the config once: a Configure landing mid-attestation must not change the rules halfway
      const config = rt.config()
      const attestor = (await rt.attestor()) as ServerAttestor<C>
      const first = await reader.next('the attestation payload', FIRST_MESSAGE_TIMEOUT_MS)
      if (first === undefined) {
        throw new PluginError('InvalidArgument', 'missing_payload', 'missing attestation payload')
      }
      const payload = first.payload
      if (first.request !== 'payload' || payload === undefined || payload.length === 0) {
        throw new PluginError('InvalidArgument', 'missing_payload', 'missing attestation payload')
      }
      const io: AttestIo = {
        signal: controller.signal,
        metadata: metadataMap(call),
        challenge: async (data) => {
          call.write({ challenge: Buffer.from(data) })
          const reply = await reader.next('the challenge response', CHALLENGE_RESPONSE_TIMEOUT_MS)
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
      if (!call.cancelled) {
        call.write({
          agent_attributes: {
            spiffe_id: attrs.spiffeId,
            selector_values: attrs.selectorValues,
            can_reattest: attrs.canReattest,
          },
        })
        call.end()
      }
      return attrs
    }
    envelope(rt, run).catch((err: unknown) => fail(call, err, rt.log))
  }
}

/** spire.plugin.agent.nodeattestor.v1.NodeAttestor/AidAttestation: payload unprompted, then answers. */
export function agentAttestHandler<C>(rt: AttestRuntime<C>) {
  return (call: ServerDuplexStream<AgentChallenge, PayloadOrChallengeResponse>): void => {
    const controller = streamSignal(call, rt.shutdownSignal)
    const reader = new StreamReader<AgentChallenge>(call)
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
        const msg = await reader.next('a challenge')
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

function metadataMap(call: ServerDuplexStream<unknown, unknown>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(call.metadata.getMap())) {
    out[key] = typeof value === 'string' ? value : value.toString('base64')
  }
  return out
}
