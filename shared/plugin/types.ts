import type { Logger } from './logger.js'
import type { Report } from './report.js'
import type { AgentStore, Metrics } from './host-services.js'
import { systemClock, type Clock } from './clock.js'
import { PluginError } from './errors.js'

/** What SPIRE passes beside the plugin's own HCL. */
export interface CoreConfig {
  trustDomain: string
}

/** The attributes a server attestor returns when it accepts an agent. */
export interface AgentAttributes {
  spiffeId: string
  selectorValues: string[]
  canReattest: boolean
  /** Facts the runtime adds to its "Agent attested" log line (never tokens or whole documents). */
  logFields?: Readonly<Record<string, unknown>>
}

/** The server side of a challenge/response exchange. */
export interface AttestIo {
  /** Sends a challenge to the agent and resolves with its response. */
  challenge(data: Uint8Array): Promise<Uint8Array>
  /** Aborted when SPIRE cancels the stream or the plugin shuts down. */
  readonly signal: AbortSignal
  /** gRPC metadata SPIRE attaches to Attest (lower-case keys); untrusted, for diagnostics only. */
  readonly metadata: Readonly<Record<string, string>>
}

export interface ServerAttestor<C> {
  attest(payload: Uint8Array, config: C, io: AttestIo): Promise<AgentAttributes>
  /** Releases timers, caches and clients on Deinit. */
  close?(): Promise<void> | void
  /**
   * Loads and builds what the first attestation would otherwise (modules, TLS contexts for the
   * configured endpoints; never a network call). The runtime calls it once, in the background,
   * after the first successful Configure, with that config, so that the first attestation does
   * not pay for it.
   */
  warm?(config: C): Promise<void>
}

export interface AgentAttestIo {
  readonly signal: AbortSignal
}

export interface AgentAttestor<C> {
  /** The first message, written unprompted when the agent opens the stream. */
  payload(config: C, io: AgentAttestIo): Promise<Uint8Array>
  /** Answers a server challenge. Absent: the plugin ends the stream after the payload. */
  respond?(challenge: Uint8Array, config: C, io: AgentAttestIo): Promise<Uint8Array>
  close?(): Promise<void> | void
}

/** The seams every server attestor has: its clock (epoch ms), SPIRE's AgentStore, a logger, metrics. */
export interface ServerAttestorDeps {
  /** Every time check reads this clock. */
  now: Clock
  agentStore: AgentStore
  log: Logger
  metrics: Metrics
}

/** The seams a server attestor's production deps start from (AgentStore is required server-side). */
export function serverAttestorDeps(ctx: PluginContext): ServerAttestorDeps {
  if (ctx.agentStore === undefined) {
    throw new PluginError(
      'Internal',
      'no_agent_store',
      'required AgentStore host service not available',
    )
  }
  return { now: systemClock, agentStore: ctx.agentStore, log: ctx.log, metrics: ctx.metrics }
}

/** What the runtime hands a plugin when it creates the attestor (after Init). */
export interface PluginContext {
  log: Logger
  /** Server plugins only; always present there (Init fails without it). */
  agentStore: AgentStore | undefined
  /** A no-op recorder when SPIRE does not offer the Metrics host service. */
  metrics: Metrics
  /** Host service names SPIRE listed in Init. */
  hostServices: readonly string[]
}

/** Pure: no I/O, no shared state. Every problem goes to `report`; undefined when there were errors. */
export type BuildConfig<C> = (hcl: string, core: CoreConfig, report: Report) => C | undefined

interface PluginDefinitionBase<C> {
  /** SPIRE's plugin name, e.g. `azure_msi`; used as the log module. */
  name: string
  buildConfig: BuildConfig<C>
}

/**
 * How the attestor is made after Init. A promise defers the load: the runtime starts it at Init and
 * the first attestation waits for it, so heavy modules stay off the path to the handshake (a failed
 * load fails attestations, with its error, until the next Init). Deinit closes whichever it made.
 */
export interface ServerPluginDefinition<C> extends PluginDefinitionBase<C> {
  side: 'server'
  createAttestor(ctx: PluginContext): ServerAttestor<C> | Promise<ServerAttestor<C>>
}

export interface AgentPluginDefinition<C> extends PluginDefinitionBase<C> {
  side: 'agent'
  createAttestor(ctx: PluginContext): AgentAttestor<C> | Promise<AgentAttestor<C>>
}

export type PluginDefinition<C> = ServerPluginDefinition<C> | AgentPluginDefinition<C>

/**
 * A server attestor loaded after Init (off the handshake's path): `load` imports the module whose
 * `createDefaultAttestor(ctx)` builds it with production dependencies.
 */
export function deferredAttestor<C>(
  load: () => Promise<{ createDefaultAttestor(ctx: PluginContext): ServerAttestor<C> }>,
): (ctx: PluginContext) => Promise<ServerAttestor<C>> {
  return async (ctx) => (await load()).createDefaultAttestor(ctx)
}
