import type { ClientDuplexStream } from '@grpc/grpc-js'
import type {
  AgentChallenge,
  PayloadOrChallengeResponse,
  ServerAttestRequest,
  ServerAttestResponse,
} from '../plugin/messages.js'
import { HostCallError, toHostCallError } from './calls.js'
import type { AgentAttributesResult, PluginProcess } from './launcher.js'

/** Reads a client bidi stream message by message; undefined at EOF, HostCallError on a status. */
type Received<T> = { value?: T; done?: boolean; error?: unknown }

class Inbox<T> {
  readonly #queue: T[] = []
  readonly #waiters: ((r: Received<T>) => void)[] = []
  #end: Received<T> | undefined

  constructor(stream: { on(event: string, listener: (...args: never[]) => void): unknown }) {
    stream.on('data', (m: T) => {
      const w = this.#waiters.shift()
      if (w) w({ value: m })
      else this.#queue.push(m)
    })
    stream.on('error', (error: unknown) => this.#close({ error }))
    stream.on('end', () => this.#close({ done: true }))
  }

  async next(): Promise<T | undefined> {
    const queued = this.#queue.shift()
    if (queued !== undefined) return queued
    const r = this.#end ?? (await new Promise<Received<T>>((res) => this.#waiters.push(res)))
    if (r.error !== undefined) throw r.error
    return r.value
  }

  #close(r: Received<T>): void {
    if (this.#end) return
    this.#end = r
    for (const w of this.#waiters.splice(0)) w(r)
  }
}

export interface ServerAttestOptions {
  /** Answers a challenge the server plugin issues (SPIRE relays it to the agent). */
  onChallenge?: (challenge: Uint8Array) => Promise<Uint8Array>
  /** Outgoing metadata, as SPIRE adds x-forwarded-client-ip etc. */
  metadata?: Record<string, string>
}

/** What `serverAttest` needs of a plugin: SPIRE's facade prefix and a grpc-go-style Attest stream. */
export type AttestTarget = Pick<PluginProcess, 'prefix' | 'openGoAttestStream'>

/**
 * Drives server NodeAttestor/Attest the way SPIRE's v1 facade does, with its error messages, on
 * grpc-go's stream lifecycle (go-stream.ts): it never half-closes; it stops reading at the result and
 * returns, and its deferred cancel resets the stream — one RST_STREAM per attestation, as under SPIRE.
 */
export async function serverAttest(
  plugin: AttestTarget,
  payload: Uint8Array,
  options: ServerAttestOptions = {},
): Promise<AgentAttributesResult> {
  if (payload.length === 0) throw new HostCallError('InvalidArgument', 'payload cannot be empty')
  const stream = plugin.openGoAttestStream<ServerAttestRequest, ServerAttestResponse>(
    options.metadata,
  )
  try {
    stream.send({ payload: Buffer.from(payload) })
    for (;;) {
      let res: ServerAttestResponse | undefined
      try {
        res = await stream.next()
      } catch (err) {
        throw prefixed(err, plugin.prefix)
      }
      if (res === undefined)
        throw new HostCallError('Internal', 'plugin closed stream unexpectedly', plugin.prefix)
      if (res.agent_attributes) {
        const a = res.agent_attributes
        if (!a.spiffe_id)
          throw new HostCallError('Internal', 'plugin response missing agent ID', plugin.prefix)
        return {
          spiffeId: a.spiffe_id,
          selectorValues: a.selector_values ?? [],
          canReattest: a.can_reattest ?? false,
        }
      }
      if (res.challenge === undefined) {
        throw new HostCallError(
          'Internal',
          'plugin response missing challenge or agent attributes',
          plugin.prefix,
        )
      }
      if (options.onChallenge === undefined) {
        throw new HostCallError(
          'Internal',
          'plugin issued a challenge but no responder was given',
          plugin.prefix,
        )
      }
      const response = await options.onChallenge(new Uint8Array(res.challenge))
      stream.send({ challenge_response: Buffer.from(response) })
    }
  } finally {
    // SPIRE's `defer cancel()`: RST_STREAM(CANCEL), unless the trailers came first (then NO_ERROR)
    stream.cancel()
  }
}

/** A stream status as SPIRE's facade reports it: prefixed with `nodeattestor(<name>)`. */
function prefixed(err: unknown, prefix: string): HostCallError {
  return err instanceof HostCallError
    ? new HostCallError(err.code, err.details, prefix)
    : toHostCallError(err, prefix)
}

/** The agent side: AidAttestation opened, payload read, challenges answered on demand. */
export class AgentSession {
  readonly #plugin: PluginProcess
  readonly #stream: ClientDuplexStream<AgentChallenge, PayloadOrChallengeResponse>
  readonly #inbox: Inbox<PayloadOrChallengeResponse>

  private constructor(plugin: PluginProcess) {
    this.#plugin = plugin
    this.#stream = plugin.openAttestStream<AgentChallenge, PayloadOrChallengeResponse>()
    this.#inbox = new Inbox<PayloadOrChallengeResponse>(this.#stream)
  }

  /** Opens the stream and reads the payload the plugin must send unprompted. */
  static async open(
    plugin: PluginProcess,
  ): Promise<{ session: AgentSession; payload: Uint8Array }> {
    const session = new AgentSession(plugin)
    let first: PayloadOrChallengeResponse | undefined
    try {
      first = await session.#inbox.next()
    } catch (err) {
      session.close()
      throw toHostCallError(err, plugin.prefix)
    }
    if (first === undefined) {
      session.close()
      throw new HostCallError(
        'Internal',
        'plugin closed stream before returning attestation data',
        plugin.prefix,
      )
    }
    if (!first.payload || first.payload.length === 0) {
      session.close()
      throw new HostCallError(
        'Internal',
        'plugin response missing attestation payload',
        plugin.prefix,
      )
    }
    return { session, payload: new Uint8Array(first.payload) }
  }

  async respond(challenge: Uint8Array): Promise<Uint8Array> {
    this.#stream.write({ challenge: Buffer.from(challenge) })
    let res: PayloadOrChallengeResponse | undefined
    try {
      res = await this.#inbox.next()
    } catch (err) {
      throw toHostCallError(err, this.#plugin.prefix)
    }
    if (res === undefined) {
      throw new HostCallError(
        'Internal',
        'plugin closed stream before handling the challenge',
        this.#plugin.prefix,
      )
    }
    if (!res.challenge_response || res.challenge_response.length === 0) {
      throw new HostCallError(
        'Internal',
        'plugin response missing challenge response',
        this.#plugin.prefix,
      )
    }
    return new Uint8Array(res.challenge_response)
  }

  /** The agent cancels the stream once attestation is over. */
  close(): void {
    this.#stream.cancel()
  }
}

/** SPIRE's whole node attestation between an agent plugin and a server plugin, relayed in-process. */
export async function attestAgentToServer(
  agent: PluginProcess,
  server: PluginProcess,
  options: Omit<ServerAttestOptions, 'onChallenge'> = {},
): Promise<AgentAttributesResult> {
  const { session, payload } = await AgentSession.open(agent)
  try {
    return await serverAttest(server, payload, {
      ...options,
      onChallenge: (c) => session.respond(c),
    })
  } finally {
    session.close()
  }
}
