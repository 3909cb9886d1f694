import { rmSync } from 'node:fs'
import { agentAttestHandler, serverAttestHandler, type AttestRuntime } from './attest-handlers.js'
import { BrokerConnections, HOST_SERVICES_BROKER_ID } from './broker.js'
import { ConfigStore } from './config-store.js'
import { errorMessage, PluginError } from './errors.js'
import {
  brokerService,
  controllerService,
  healthService,
  stdioService,
} from './go-plugin-services.js'
import {
  applySocketGroup,
  createSocketPlace,
  formatHandshake,
  hasMagicCookie,
  negotiateProtocol,
  NOT_A_PROGRAM_MESSAGE,
  type Env,
} from './handshake.js'
import {
  createAgentStoreClient,
  createHostConnection,
  createMetricsClient,
  type FlushableMetrics,
  NOOP_METRICS,
  type Metrics,
} from './host-services.js'
import { GrpcServer, unaryHandler } from './grpc-server.js'
import { coalescingWriter, createHclogLogger, type Logger, type LogLevel } from './logger.js'
import type { ConfigureRequest, InitRequest, InitResponse, ValidateResponse } from './messages.js'
import { SERVICE } from './protos.js'
import { toStatus } from './status.js'
import type { AgentAttestor, PluginContext, PluginDefinition, ServerAttestor } from './types.js'

const MAX_MESSAGE_BYTES = 16 * 1024 * 1024
/** How often an orphaned plugin (host gone without Shutdown, e.g. SIGKILL) notices and exits. */
const PARENT_CHECK_INTERVAL_MS = 1_000
const LOG_LEVELS = new Set<LogLevel>(['trace', 'debug', 'info', 'warn', 'error'])

export interface ServeOptions {
  env?: Env
}

/**
 * The one call a plugin's main makes (like spire-plugin-sdk's pluginmain.Serve): checks the magic
 * cookie, binds the socket, prints the handshake, serves until the host shuts it down.
 */
export function serve<C>(definition: PluginDefinition<C>, options: ServeOptions = {}): void {
  const env = options.env ?? process.env
  if (!hasMagicCookie(env, 'NodeAttestor')) {
    process.stderr.write(NOT_A_PROGRAM_MESSAGE)
    process.exit(1)
  }
  const levelEnv = env.SPIRE_AZURE_LOG_LEVEL?.toLowerCase() as LogLevel | undefined
  const stderr = coalescingWriter((chunk) => process.stderr.write(chunk))
  process.on('exit', stderr.flush)
  const log = createHclogLogger({
    write: stderr.write,
    level: levelEnv !== undefined && LOG_LEVELS.has(levelEnv) ? levelEnv : 'debug',
    module: definition.name,
  })
  const writeHandshake = captureProcessOutput(log)
  // go-plugin ignores SIGINT: Ctrl-C reaches the whole process group and the host drives shutdown
  process.on('SIGINT', () => {})

  const runtime = new PluginRuntime(definition, log)
  const protocol = negotiateProtocol(env)
  if (protocol.warning !== undefined)
    log.warn('Protocol version negotiation', { detail: protocol.warning })

  let place: ReturnType<typeof createSocketPlace>
  try {
    place = createSocketPlace(env)
  } catch (err) {
    log.error('Cannot create the plugin socket', { error: errorMessage(err) })
    process.exit(1)
  }
  runtime.onExit(() => rmSync(place.dir, { recursive: true, force: true }))

  runtime.server.listen(place.path).then(
    () => {
      try {
        const group = env.PLUGIN_UNIX_SOCKET_GROUP
        if (group !== undefined && group !== '') applySocketGroup(place.path, group)
      } catch (groupErr) {
        log.error('Cannot apply PLUGIN_UNIX_SOCKET_GROUP', { error: errorMessage(groupErr) })
        runtime.exit(1)
        return
      }
      // bind first, print second: the host dials as soon as it reads this line
      writeHandshake(formatHandshake(protocol.version, place.path))
      // the Node and V8 flags it runs with (the executables' /bin/sh header or the SEA's execArgv)
      log.debug('Plugin serving', {
        socket: place.path,
        side: definition.side,
        node: process.version,
        node_flags: process.execArgv.join(' '),
      })
      runtime.watchParent()
    },
    (err: unknown) => {
      log.error('Cannot bind the plugin socket', { error: errorMessage(err), path: place.path })
      runtime.exit(1)
    },
  )
}

/** State and RPC handlers of one plugin process. */
class PluginRuntime<C> {
  readonly server: GrpcServer
  readonly #definition: PluginDefinition<C>
  readonly #log: Logger
  readonly #configs: ConfigStore<C>
  readonly #broker = new BrokerConnections()
  readonly #exitHooks: (() => void)[] = []
  #attestor: Promise<ServerAttestor<C> | AgentAttestor<C>> | undefined
  #metrics: Metrics = NOOP_METRICS
  #hostConnection: { close(): void } | undefined
  /** The Metrics client on #hostConnection, flushed before that connection closes. */
  #metricsClient: FlushableMetrics | undefined
  #exiting = false
  #warmed = false
  #configured = false

  constructor(definition: PluginDefinition<C>, log: Logger) {
    this.#definition = definition
    this.#log = log
    this.#configs = new ConfigStore(definition.buildConfig)
    const fault = (err: unknown) => toStatus(err, log)
    // SPIRE resets every Attest stream, so connections are retired before nghttp2's reset budget
    // runs dry (stream-budget.ts)
    this.server = new GrpcServer({ maxMessageBytes: MAX_MESSAGE_BYTES })
    this.server.addService(SERVICE.health, healthService())
    this.server.addService(SERVICE.broker, brokerService(this.#broker, log))
    this.server.addService(SERVICE.stdio, stdioService())
    this.server.addService(
      SERVICE.controller,
      controllerService(() => this.exit(0)),
    )
    this.server.addService(SERVICE.init, {
      Init: unaryHandler((request: InitRequest) => this.#init(request), fault),
      Deinit: unaryHandler(() => this.#deinit().then(() => ({})), fault),
    })
    this.server.addService(SERVICE.config, {
      Configure: unaryHandler(
        (request: ConfigureRequest) => this.#configure(request),
        fault,
        () => this.#warmOnce(),
      ),
      Validate: unaryHandler((request: ConfigureRequest) => this.#validate(request), fault),
    })
    const rt: AttestRuntime<C> = {
      name: definition.name,
      attestor: () => this.#requireAttestor(),
      config: () => this.#configs.get(),
      log,
      metrics: () => this.#metrics,
      now: () => Date.now(),
    }
    if (definition.side === 'server') {
      this.server.addService(SERVICE.serverNodeAttestor, { Attest: serverAttestHandler(rt) })
    } else {
      this.server.addService(SERVICE.agentNodeAttestor, { AidAttestation: agentAttestHandler(rt) })
    }
  }

  onExit(hook: () => void): void {
    this.#exitHooks.push(hook)
  }

  /** Cancels in-flight streams, removes the socket directory and exits on the next tick. */
  exit(code: number): void {
    if (this.#exiting) return
    this.#exiting = true
    this.server.forceShutdown()
    this.#metricsClient?.flush()
    this.#hostConnection?.close()
    for (const hook of this.#exitHooks) {
      try {
        hook()
      } catch {
        // best effort: the process is exiting
      }
    }
    setImmediate(() => process.exit(code))
  }

  /** Exits when the host process is gone (SIGKILLed hosts never call Shutdown). */
  watchParent(): void {
    const parent = process.ppid
    const timer = setInterval(() => {
      if (process.ppid !== parent) {
        this.#log.warn('Host process exited without shutting the plugin down')
        this.exit(0)
      }
    }, PARENT_CHECK_INTERVAL_MS)
    timer.unref()
  }

  #requireAttestor(): Promise<ServerAttestor<C> | AgentAttestor<C>> {
    if (this.#attestor === undefined) {
      throw new PluginError('FailedPrecondition', 'not_initialized', 'plugin not initialized')
    }
    return this.#attestor
  }

  async #init(request: InitRequest): Promise<InitResponse> {
    const hostServices = request.host_service_names ?? []
    const def = this.#definition
    let ctx: PluginContext
    if (def.side === 'server') {
      if (!hostServices.includes(SERVICE.agentStore)) {
        // upstream parity: BrokerHostServices fails the load without AgentStore
        throw new PluginError(
          'Internal',
          'agent_store_unavailable',
          'required AgentStore host service not available',
        )
      }
      const address = await this.#broker.wait(HOST_SERVICES_BROKER_ID)
      const conn = this.#connectHost(address.address)
      ctx = {
        log: this.#log,
        agentStore: createAgentStoreClient(conn),
        metrics: hostServices.includes(SERVICE.metrics)
          ? this.#newMetricsClient(conn)
          : NOOP_METRICS,
        hostServices,
      }
    } else {
      let metrics = NOOP_METRICS
      if (hostServices.includes(SERVICE.metrics)) {
        try {
          const address = await this.#broker.wait(HOST_SERVICES_BROKER_ID)
          metrics = this.#newMetricsClient(this.#connectHost(address.address))
        } catch (err) {
          this.#log.warn('Metrics host service unreachable; metrics disabled', {
            error: errorMessage(err),
          })
        }
      }
      ctx = { log: this.#log, agentStore: undefined, metrics, hostServices }
    }
    await this.#closeAttestor()
    this.#metrics = ctx.metrics
    const created = Promise.resolve(
      def.side === 'server' ? def.createAttestor(ctx) : def.createAttestor(ctx),
    )
    // a failed (deferred) load surfaces on each attestation, not as an unhandled rejection now
    created.catch((err: unknown) =>
      this.#log.error('Attestor failed to load', { error: errorMessage(err) }),
    )
    this.#attestor = created
    const attestorService =
      def.side === 'server' ? SERVICE.serverNodeAttestor : SERVICE.agentNodeAttestor
    // the list is the contract: exactly what SPIRE should bind, nothing of go-plugin's
    return { plugin_service_names: [attestorService, SERVICE.config] }
  }

  #newMetricsClient(conn: ReturnType<typeof createHostConnection>): FlushableMetrics {
    this.#metricsClient = createMetricsClient(conn, this.#log)
    return this.#metricsClient
  }

  #connectHost(address: string): ReturnType<typeof createHostConnection> {
    this.#metricsClient?.flush()
    this.#metricsClient = undefined
    this.#hostConnection?.close()
    const conn = createHostConnection(address)
    this.#hostConnection = conn
    return conn
  }

  async #closeAttestor(): Promise<void> {
    const loading = this.#attestor
    this.#attestor = undefined
    const attestor = await loading?.catch(() => undefined)
    await attestor?.close?.()
  }

  async #deinit(): Promise<void> {
    await this.#closeAttestor()
    this.#metricsClient?.flush()
    this.#metricsClient = undefined
    this.#hostConnection?.close()
    this.#hostConnection = undefined
  }

  #configure(request: ConfigureRequest): object {
    const report = this.#configs.configure(configInput(request))
    if (report.warnings.length > 0) {
      this.#log.warn('Configuration notes', { notes: report.warnings })
    }
    this.#log.debug('Plugin configured')
    this.#configured = true
    return {}
  }

  /**
   * Once the first successful Configure's answer has left (its stream closed, so SPIRE is not kept
   * waiting): the attestor's `warm`, in the background.
   */
  #warmOnce(): void {
    if (this.#warmed || !this.#configured) return
    this.#warmed = true
    const config = this.#configs.get()
    this.#attestor
      ?.then((attestor) => ('warm' in attestor ? attestor.warm?.(config) : undefined))
      .catch((err: unknown) =>
        this.#log.debug('Warming the attestor failed', { error: errorMessage(err) }),
      )
  }

  #validate(request: ConfigureRequest): ValidateResponse {
    const report = this.#configs.validate(configInput(request))
    return { valid: report.ok, notes: report.notes }
  }
}

function configInput(request: ConfigureRequest): { core: { trustDomain: string }; hcl: string } {
  return {
    core: { trustDomain: request.core_configuration?.trust_domain ?? '' },
    hcl: request.hcl_configuration ?? '',
  }
}

/**
 * Nothing but the handshake may reach stdout: console.* goes to the hclog stream instead, and stdout writes from stray code become debug log lines. Returns the one writer
 * allowed to touch the real stdout.
 */
function captureProcessOutput(log: Logger): (line: string) => void {
  const realWrite = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: unknown): boolean => {
    log.debug('Discarded stdout output', { detail: String(chunk).slice(0, 1024) })
    return true
  }) as typeof process.stdout.write
  const fmt = (args: unknown[]): string =>
    args.map((a) => (typeof a === 'string' ? a : errorMessage(a))).join(' ')
  console.log = (...a: unknown[]) => log.info(fmt(a))
  console.info = (...a: unknown[]) => log.info(fmt(a))
  console.debug = (...a: unknown[]) => log.debug(fmt(a))
  console.trace = (...a: unknown[]) => log.trace(fmt(a))
  console.warn = (...a: unknown[]) => log.warn(fmt(a))
  console.error = (...a: unknown[]) => log.error(fmt(a))
  process.on('unhandledRejection', (reason) => {
    log.error('Unhandled promise rejection', { error: errorMessage(reason) })
  })
  process.on('uncaughtException', (err) => {
    // like a Go plugin's panic: state is unknown, so fail closed; SPIRE logs the exit
    log.error('Uncaught exception; exiting', { error: errorMessage(err) })
    process.exit(1)
  })
  return (line) => {
    realWrite(line)
  }
}
