import { status as GrpcStatus, type ClientDuplexStream } from '@grpc/grpc-js'
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { ConnInfo, InitResponse, ValidateResponse } from '../plugin/messages.js'
import { SERVICE, serviceDefinition } from '../plugin/protos.js'
import { HostCallError, PluginConnection, toHostCallError } from './calls.js'
import { GoStreamClient, type GoBidiStream, type TransportCounts } from './go-stream.js'
import { parseHandshakeLine, type Handshake } from './handshake.js'
import {
  InMemoryAgentStore,
  RecordingMetrics,
  startHostServices,
  type RunningHostServices,
} from './host-services.js'
import { parsePluginLogLine, type PluginLogEntry } from './plugin-log.js'

/** go-plugin's default StartTimeout. */
export const START_TIMEOUT_MS = 60_000
/** SPIRE's Deinit timeout on unload. */
export const DEINIT_TIMEOUT_MS = 10_000
/** go-plugin's grace period between Shutdown and SIGKILL. */
export const EXIT_GRACE_MS = 2_000
const RPC_TIMEOUT_MS = 30_000

/** SPIRE's host service names, in the order SPIRE lists them in Init. */
export const SPIRE_HOST_SERVICES = {
  server: [SERVICE.identityProvider, SERVICE.agentStore, SERVICE.metrics],
  agent: [SERVICE.metrics],
} as const

export type Side = 'server' | 'agent'

export interface LaunchOptions {
  /** Absolute path of the executable, as SPIRE's plugin_cmd after filepath.Abs. */
  command: string
  args?: string[]
  /** The configured plugin name (selector type, facade prefix). */
  name: string
  side: Side
  /** Merged over the inherited environment; undefined removes a variable. */
  env?: Record<string, string | undefined>
  /** Replaces the whole environment, magic cookie included (handshake fault tests). */
  rawEnv?: Record<string, string>
  agentStore?: InMemoryAgentStore
  metrics?: RecordingMetrics
  /** Host service names sent in Init; defaults to SPIRE's for the side. */
  hostServiceNames?: readonly string[]
  /** `never` models a broker that never sends ConnInfo for id 1. */
  brokerConnInfo?: 'on-connect' | 'never'
  startTimeoutMs?: number
  onLog?: (entry: PluginLogEntry) => void
}

export interface AgentAttributesResult {
  spiffeId: string
  selectorValues: string[]
  canReattest: boolean
}

export interface ExitInfo {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface CloseResult extends ExitInfo {
  /** True when the process exited inside the grace period, without SIGKILL. */
  graceful: boolean
  elapsedMs: number
}

/** A running plugin process driven as SPIRE's catalog drives it. */
export class PluginProcess {
  readonly logs: PluginLogEntry[] = []
  /** Anything written to stdout after the handshake line (SPIRE discards it; it must stay empty). */
  readonly extraStdout: string[] = []
  readonly agentStore: InMemoryAgentStore
  readonly metrics: RecordingMetrics
  readonly exited: Promise<ExitInfo>
  handshake!: Handshake
  readonly #options: LaunchOptions
  readonly #child: ChildProcess
  #conn: PluginConnection | undefined
  /** SPIRE's grpc-go stream lifecycle for attestations (go-stream.ts), connected on first use. */
  #goStreams: GoStreamClient | undefined
  #broker: ClientDuplexStream<ConnInfo, ConnInfo> | undefined
  #hostServices: RunningHostServices | undefined
  #exitInfo: ExitInfo | undefined

  private constructor(options: LaunchOptions, child: ChildProcess) {
    this.#options = options
    this.#child = child
    this.agentStore = options.agentStore ?? new InMemoryAgentStore()
    this.metrics = options.metrics ?? new RecordingMetrics()
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.#exitInfo !== undefined) return
        this.#exitInfo = { code, signal }
        resolve(this.#exitInfo)
      }
      child.once('exit', done)
      // a process that never started (ENOENT, EACCES) emits 'error' and no 'exit': without this,
      // launch() waited forever for it after rejecting
      child.once('error', () => {
        if (child.pid === undefined) done(null, null)
      })
    })
  }

  get pid(): number | undefined {
    return this.#child.pid
  }

  get name(): string {
    return this.#options.name
  }

  /** SPIRE's facade prefix, e.g. `nodeattestor(azure_msi)`. */
  get prefix(): string {
    return `nodeattestor(${this.#options.name})`
  }

  /** Spawns the plugin with SPIRE's environment, reads the handshake, connects, opens broker and stdio. */
  static async launch(options: LaunchOptions): Promise<PluginProcess> {
    const env: Record<string, string> = options.rawEnv ?? {
      ...(process.env as Record<string, string>),
      NodeAttestor: 'NodeAttestor',
      PLUGIN_PROTOCOL_VERSIONS: '1',
      PLUGIN_MIN_PORT: '10000',
      PLUGIN_MAX_PORT: '25000',
    }
    for (const [k, v] of Object.entries(options.env ?? {})) {
      if (v === undefined) delete env[k]
      else env[k] = v
    }
    const child = spawn(options.command, options.args ?? [], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const plugin = new PluginProcess(options, child)
    plugin.#captureStderr()
    try {
      plugin.handshake = await plugin.#readHandshake(options.startTimeoutMs ?? START_TIMEOUT_MS)
      await plugin.#connect()
    } catch (err) {
      child.kill('SIGKILL')
      await plugin.exited
      await plugin.#hostServices?.stop()
      throw err
    }
    return plugin
  }

  /** launch + Init + Configure, as SPIRE's catalog loads a plugin. */
  static async load(
    options: LaunchOptions & { hcl?: string; trustDomain?: string },
  ): Promise<PluginProcess> {
    const plugin = await PluginProcess.launch(options)
    try {
      await plugin.init()
      await plugin.configure(options.hcl ?? '', options.trustDomain ?? 'example.org')
    } catch (err) {
      await plugin.close()
      throw err
    }
    return plugin
  }

  #captureStderr(): void {
    const rl = createInterface({ input: this.#child.stderr!, crlfDelay: Infinity })
    rl.on('line', (line) => {
      const entry = parsePluginLogLine(line)
      this.logs.push(entry)
      this.#options.onLog?.(entry)
    })
  }

  #readHandshake(timeoutMs: number): Promise<Handshake> {
    const stdout = this.#child.stdout!
    return new Promise((resolve, reject) => {
      let buffer = ''
      let done = false
      const finish = (err: Error | undefined, value?: Handshake): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        if (err) reject(err)
        else resolve(value!)
      }
      const timer = setTimeout(
        () => finish(new Error('timeout while waiting for plugin to start')),
        timeoutMs,
      )
      stdout.setEncoding('utf8')
      stdout.on('data', (chunk: string) => {
        if (done) {
          this.extraStdout.push(chunk)
          return
        }
        buffer += chunk
        const nl = buffer.indexOf('\n')
        if (nl < 0) return
        const rest = buffer.slice(nl + 1)
        if (rest !== '') this.extraStdout.push(rest)
        try {
          finish(undefined, parseHandshakeLine(buffer.slice(0, nl)))
        } catch (err) {
          finish(err as Error)
        }
      })
      stdout.on('end', () => {
        if (buffer.trim() !== '') {
          try {
            finish(undefined, parseHandshakeLine(buffer))
          } catch (err) {
            finish(err as Error)
          }
        } else {
          finish(
            new Error(
              "plugin exited before we could connect: Unrecognized remote plugin message: \nFailed to read any lines from plugin's stdout",
            ),
          )
        }
      })
      this.#child.once('error', (err) => finish(err))
    })
  }

  async #connect(): Promise<void> {
    const target =
      this.handshake.network === 'unix'
        ? `unix://${this.handshake.address}`
        : this.handshake.address
    const conn = new PluginConnection(target)
    this.#conn = conn
    this.#goStreams = new GoStreamClient(this.handshake.network, this.handshake.address)
    await conn.waitReady(5_000).catch((err: Error) => {
      throw new Error(`failed to connect to plugin: ${err.message}`)
    })
    // the host opens both long-lived streams right after connecting
    const broker = conn.bidi<ConnInfo, ConnInfo>(SERVICE.broker, 'StartStream')
    broker.on('error', () => {})
    broker.on('data', () => {})
    this.#broker = broker
    const stdio = conn.serverStream(SERVICE.stdio, 'StreamStdio', {})
    stdio.on('error', () => {})
    stdio.on('data', () => {})
    // Dispense: host services on a new socket, announced as broker id 1
    this.#hostServices = await startHostServices({
      ...(this.#options.side === 'server' ? { agentStore: this.agentStore } : {}),
      metrics: this.metrics,
    })
    if ((this.#options.brokerConnInfo ?? 'on-connect') === 'on-connect') {
      broker.write({ service_id: 1, network: 'unix', address: this.#hostServices.address })
    }
  }

  #rpc(): PluginConnection {
    if (this.#conn === undefined) throw new Error('plugin not connected')
    return this.#conn
  }

  /** Init with SPIRE's host service names; resolves with the plugin's service names. */
  async init(): Promise<string[]> {
    const names = this.#options.hostServiceNames ?? SPIRE_HOST_SERVICES[this.#options.side]
    try {
      const res = await this.#rpc().unary<InitResponse>(
        SERVICE.init,
        'Init',
        { host_service_names: names },
        RPC_TIMEOUT_MS,
      )
      return res.plugin_service_names ?? []
    } catch (err) {
      throw toHostCallError(err, `failed to load plugin "${this.name}"`)
    }
  }

  async configure(hcl: string, trustDomain = 'example.org'): Promise<void> {
    try {
      await this.#rpc().unary(
        SERVICE.config,
        'Configure',
        { core_configuration: { trust_domain: trustDomain }, hcl_configuration: hcl },
        RPC_TIMEOUT_MS,
      )
    } catch (err) {
      throw toHostCallError(err, `failed to configure plugin "${this.name}"`)
    }
  }

  async validate(
    hcl: string,
    trustDomain = 'example.org',
  ): Promise<{ valid: boolean; notes: string[] }> {
    const res = await this.#rpc().unary<ValidateResponse>(
      SERVICE.config,
      'Validate',
      { core_configuration: { trust_domain: trustDomain }, hcl_configuration: hcl },
      RPC_TIMEOUT_MS,
    )
    return { valid: res.valid ?? false, notes: res.notes ?? [] }
  }

  /** go-plugin's Ping: Health/Check for `plugin`. */
  async health(service = 'plugin'): Promise<string> {
    const res = await this.#rpc().unary<{ status?: string }>(
      SERVICE.health,
      'Check',
      { service },
      RPC_TIMEOUT_MS,
    )
    return res.status ?? 'UNKNOWN'
  }

  /** Opens a raw bidi stream on the attestor service of this side (for relays and fault tests). */
  openAttestStream<Req, Res>(
    metadata?: import('@grpc/grpc-js').Metadata,
  ): ClientDuplexStream<Req, Res> {
    return this.#options.side === 'server'
      ? this.#rpc().bidi<Req, Res>(SERVICE.serverNodeAttestor, 'Attest', metadata)
      : this.#rpc().bidi<Req, Res>(SERVICE.agentNodeAttestor, 'AidAttestation', metadata)
  }

  /** Opens the attestor service's bidi stream with grpc-go's lifecycle (what `serverAttest` uses). */
  openGoAttestStream<Req, Res>(metadata?: Record<string, string>): GoBidiStream<Req, Res> {
    if (this.#goStreams === undefined) throw new Error('plugin not connected')
    const def =
      this.#options.side === 'server'
        ? serviceDefinition(SERVICE.serverNodeAttestor).Attest
        : serviceDefinition(SERVICE.agentNodeAttestor).AidAttestation
    if (def === undefined) throw new Error('attestor service has no stream method')
    return this.#goStreams.open<Req, Res>(
      def.path,
      def.requestSerialize as (value: Req) => Buffer,
      def.responseDeserialize as (bytes: Buffer) => Res,
      metadata,
    )
  }

  /** What the attestation streams' HTTP/2 connections saw: connections, GOAWAYs, resets sent. */
  get transport(): TransportCounts {
    return this.#goStreams?.counts ?? { connections: 0, goaways: {}, resets: {}, retried: 0 }
  }

  /**
   * Unload as SPIRE does: Deinit (10 s), broker close, GRPCController/Shutdown (error ignored),
   * connection close, then 2 s for the process to exit before SIGKILL. `exitGraceMs` stretches that
   * last wait, for tests that ask whether a plugin exits by itself on a machine too busy to promise 2 s.
   */
  async close(options: { exitGraceMs?: number } = {}): Promise<CloseResult> {
    const exitGraceMs = options.exitGraceMs ?? EXIT_GRACE_MS
    const started = Date.now()
    if (this.#exitInfo === undefined && this.#conn !== undefined) {
      await this.#conn
        .unary(SERVICE.init, 'Deinit', {}, DEINIT_TIMEOUT_MS)
        .catch((err: unknown) => {
          const e = toHostCallError(err)
          if (e.code !== 'Unimplemented')
            this.logs.push(hostNote(`Failed to deinitialize plugin: ${e.message}`))
        })
      this.#broker?.end()
      await this.#conn.unary(SERVICE.controller, 'Shutdown', {}, EXIT_GRACE_MS).catch(() => {})
    }
    this.#goStreams?.close()
    this.#conn?.close()
    const graceful = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), exitGraceMs).unref()),
    ])
    if (!graceful) {
      this.logs.push(hostNote('plugin failed to exit gracefully'))
      this.#child.kill('SIGKILL')
    }
    const info = await this.exited
    await this.#hostServices?.stop()
    return { ...info, graceful, elapsedMs: Date.now() - started }
  }

  /** Kills the process outright (a crashed or SIGKILLed host's view). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.#child.kill(signal)
  }

  /** Log entries that would have panicked the SPIRE process. */
  get hostPanics(): PluginLogEntry[] {
    return this.logs.filter((e) => e.hostPanic !== undefined)
  }
}

function hostNote(message: string): PluginLogEntry {
  return { level: 'warn', message, fields: { source: 'host' }, raw: message }
}

export { HostCallError, GrpcStatus }
