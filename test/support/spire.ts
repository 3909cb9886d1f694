import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { hclConfigToJson, writePluginDataFile, type ConfigForm } from './config-forms.js'
import { REPO_ROOT } from './paths.js'

export const SPIRE_VERSION = process.env.SPIRE_VERSION ?? '1.15.3'

export type SpireBinaries =
  { bin: string; server: string; agent: string; oidcDiscoveryProvider: string } | { skip: string }

/**
 * Real SPIRE binaries from scripts/install-spire.sh (built once from the Go module proxy into a cache
 * outside git). On a machine without Go the caller reports the test as skipped, with this reason.
 * `variant` `test-roots`: spire-server only, built with scripts/patches/spire-azureimds-extra-roots.patch
 * (the built-in azure_imds server also trusts SPIRE_TEST_AZURE_IMDS_EXTRA_ROOTS; TEST ONLY).
 */
export function ensureSpire(
  version = SPIRE_VERSION,
  variant: 'release' | 'test-roots' = 'release',
): SpireBinaries {
  const script = join(REPO_ROOT, 'scripts/install-spire.sh')
  const res = spawnSync('bash', [script, version, variant], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 45 * 60_000,
  })
  if (res.status === 3) return { skip: `no Go toolchain to build SPIRE v${version} (${variant})` }
  if (res.status !== 0) throw new Error(`install-spire.sh failed (status ${res.status})`)
  const bin = res.stdout.trim().split('\n').pop() ?? ''
  return {
    bin,
    server: join(bin, 'spire-server'),
    agent: join(bin, 'spire-agent'),
    oidcDiscoveryProvider: join(bin, 'oidc-discovery-provider'),
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** One parsed line of SPIRE's JSON log (logrus). */
export interface SpireLogLine {
  level: string
  msg: string
  [field: string]: unknown
}

/** A SPIRE process whose JSON log lines are collected as they arrive. */
export class SpireProcess {
  readonly lines: SpireLogLine[] = []
  readonly raw: string[] = []
  readonly child: ChildProcess
  readonly exited: Promise<number | null>

  constructor(command: string, args: string[], cwd: string, env?: Record<string, string>) {
    this.child = spawn(command, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(env === undefined ? {} : { env: { ...process.env, ...env } }),
    })
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        this.raw.push(line)
        try {
          const parsed = JSON.parse(line) as SpireLogLine
          if (typeof parsed === 'object' && parsed !== null) this.lines.push(parsed)
        } catch {
          // SPIRE prints a few non-JSON lines (e.g. from the CLI wrapper)
        }
      })
    }
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)))
  }

  find(pred: (l: SpireLogLine) => boolean): SpireLogLine | undefined {
    return this.lines.find(pred)
  }

  async waitForLine(
    pred: (l: SpireLogLine) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<SpireLogLine> {
    const end = Date.now() + timeoutMs
    for (;;) {
      const hit = this.lines.find(pred)
      if (hit) return hit
      if (Date.now() > end) {
        throw new Error(
          `timed out waiting for ${what}; last log lines:\n${this.raw.slice(-25).join('\n')}`,
        )
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode
    this.child.kill(signal)
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    const code = await this.exited
    clearTimeout(timer)
    return code
  }
}

export function run(
  command: string,
  args: string[],
  cwd: string,
): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 60_000 })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}

export function writeFile(path: string, text: string): string {
  mkdirSync(join(path, '..'), { recursive: true })
  writeFileSync(path, text)
  return path
}

/** PIDs of live processes whose command line contains `needle` (Linux /proc). */
export function pidsMatching(needle: string): number[] {
  const res = spawnSync('pgrep', ['-f', needle], { encoding: 'utf8' })
  return res.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number)
    .filter((pid) => pid !== process.pid)
}

/** Like run(), but async: an emulator living in this process must keep answering meanwhile. */
export function exec(
  command: string,
  args: string[],
  cwd: string,
  timeoutMs = 60_000,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}

export const E2E_TRUST_DOMAIN = 'example.org'

/** One NodeAttestor block: external with `pluginCmd`, SPIRE's built-in without; `pluginData` is HCL. */
export interface NodeAttestorConf {
  name: string
  pluginCmd?: string
  pluginData: string
}

const indentBlock = (text: string, spaces: number): string =>
  text
    .split('\n')
    .map((l) => (l.trim() === '' ? '' : ' '.repeat(spaces) + l))
    .join('\n')

function nodeAttestorBlock(na: NodeAttestorConf, dataFile?: string): string {
  const cmd = na.pluginCmd === undefined ? '' : `\n    plugin_cmd = "${na.pluginCmd}"`
  if (dataFile !== undefined) {
    return `  NodeAttestor "${na.name}" {${cmd}\n    plugin_data_file = "${dataFile}"\n  }`
  }
  return `  NodeAttestor "${na.name}" {${cmd}
    plugin_data {
${indentBlock(na.pluginData, 6)}
    }
  }`
}

/** The API socket of the server called `name` (default `server`) in `dir`. */
export const serverSocket = (dir: string, name = 'server'): string => `${dir}/${name}/api.sock`

/**
 * A loopback spire-server config living in `<dir>/<name>/` (default `server`): sqlite datastore,
 * memory keys, JSON debug logs, the given attestor.
 */
export function spireServerConf(o: {
  dir: string
  port: number
  /** One attestor, or several (each with its own name), as one server serving them all. */
  nodeAttestor: NodeAttestorConf | NodeAttestorConf[]
  name?: string
  trustDomain?: string
  /** More lines for the `server` block, e.g. `jwt_issuer = "…"`. */
  serverExtra?: string
  /** Top-level blocks after `plugins`, e.g. `telemetry { … }`. */
  extra?: string
  /** SPIRE's log_level (DEBUG by default: the tests read the plugins' debug lines). */
  logLevel?: string
  /**
   * The config's form (test/support/config-forms.ts): SPIRE's HCL (default); the same config in
   * SPIRE's JSON form; or HCL whose NodeAttestors read their data (`pluginData`, as is) from
   * `plugin_data_file`s written now beside the config (pluginDataFilePath(dir, attestor, name)).
   */
  form?: ConfigForm
  /**
   * The sql DataStore (default: sqlite in `<dir>/<name>/data`), e.g. a PostgreSQL several servers
   * share (HA: test/support/postgres.ts); `extra` lines go into its plugin_data.
   */
  datastore?: {
    databaseType: 'sqlite3' | 'postgres' | 'mysql'
    connectionString: string
    extra?: string
  }
  /** `disk`: keys in `<dir>/<name>/data/keys.json`, so a restarted server keeps its CA (default memory). */
  keyManager?: 'memory' | 'disk'
}): string {
  const home = `${o.dir}/${o.name ?? 'server'}`
  const attestors = Array.isArray(o.nodeAttestor) ? o.nodeAttestor : [o.nodeAttestor]
  const attestorBlock = (na: NodeAttestorConf): string =>
    o.form === 'plugin_data_file'
      ? nodeAttestorBlock(na, writePluginDataFile(o.dir, na.name, na.pluginData, o.name))
      : nodeAttestorBlock(na)
  const hcl = `server {
  bind_address = "127.0.0.1"
  bind_port = "${o.port}"
  socket_path = "${serverSocket(o.dir, o.name)}"
  trust_domain = "${o.trustDomain ?? E2E_TRUST_DOMAIN}"
  data_dir = "${home}/data"
  log_level = "${o.logLevel ?? 'DEBUG'}"
  log_format = "json"${o.serverExtra === undefined ? '' : `\n${indentBlock(o.serverExtra, 2)}`}
}

plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "${o.datastore?.databaseType ?? 'sqlite3'}"
      connection_string = "${o.datastore?.connectionString ?? `${home}/data/datastore.sqlite3`}"${o.datastore?.extra === undefined ? '' : `\n${indentBlock(o.datastore.extra, 6)}`}
    }
  }
  ${
    o.keyManager === 'disk'
      ? `KeyManager "disk" {\n    plugin_data {\n      keys_path = "${home}/data/keys.json"\n    }\n  }`
      : 'KeyManager "memory" {\n    plugin_data {}\n  }'
  }
${attestors.map(attestorBlock).join('\n')}
}
${o.extra ?? ''}`
  return o.form === 'json' ? hclConfigToJson(hcl) : hcl
}

/**
 * A spire-agent config in `<dir>/<name>/` trusting `trustBundle` (default `<dir>/bundle.pem`), with
 * the unix workload attestor.
 */
export function spireAgentConf(o: {
  dir: string
  name: string
  port: number
  nodeAttestor: NodeAttestorConf
  trustBundle?: string
  trustDomain?: string
}): string {
  return `agent {
  data_dir = "${o.dir}/${o.name}/data"
  log_level = "DEBUG"
  log_format = "json"
  server_address = "127.0.0.1"
  server_port = "${o.port}"
  socket_path = "${o.dir}/${o.name}/agent.sock"
  trust_bundle_path = "${o.trustBundle ?? `${o.dir}/bundle.pem`}"
  trust_domain = "${o.trustDomain ?? E2E_TRUST_DOMAIN}"
}

plugins {
${nodeAttestorBlock(o.nodeAttestor)}
  KeyManager "memory" {
    plugin_data {}
  }
  WorkloadAttestor "unix" {
    plugin_data {}
  }
}
`
}

/** A config given as a file to run with `-expandEnv` (its `${VAR}`s from `env`), e.g. an example. */
export interface ConfigFile {
  file: string
  env: Record<string, string>
}

/**
 * Starts `spire-server run` with the config (text written to `<dir>/<name>.conf`, name `server` by
 * default as in spireServerConf; or a ConfigFile run with -expandEnv), waits for its APIs, and writes
 * the trust bundle agents need to `bundlePath` (default `<dir>/bundle.pem`).
 */
export async function startSpireServer(
  serverBin: string,
  dir: string,
  conf: string | ConfigFile,
  options: { name?: string; bundlePath?: string; socketPath?: string } = {},
): Promise<SpireProcess> {
  const name = options.name ?? 'server'
  const server =
    typeof conf === 'string'
      ? new SpireProcess(
          serverBin,
          ['run', '-config', writeFile(join(dir, `${name}.conf`), conf)],
          dir,
        )
      : new SpireProcess(serverBin, ['run', '-expandEnv', '-config', conf.file], dir, conf.env)
  await server.waitForLine((l) => /Starting Server APIs/i.test(l.msg), 60_000, `${name} to start`)
  for (let i = 0; ; i++) {
    const socket = options.socketPath ?? serverSocket(dir, name)
    const res = await exec(serverBin, ['bundle', 'show', '-socketPath', socket], dir)
    if (res.status === 0) {
      writeFile(options.bundlePath ?? join(dir, 'bundle.pem'), res.stdout)
      return server
    }
    if (i > 100) throw new Error(`bundle show failed: ${res.stderr}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Starts `spire-agent run` with the given config (text written to `<dir>/<name>.conf`, or a ConfigFile). */
export function startSpireAgent(
  agentBin: string,
  dir: string,
  name: string,
  conf: string | ConfigFile,
): SpireProcess {
  return typeof conf === 'string'
    ? new SpireProcess(
        agentBin,
        ['run', '-config', writeFile(join(dir, `${name}.conf`), conf)],
        dir,
      )
    : new SpireProcess(agentBin, ['run', '-expandEnv', '-config', conf.file], dir, conf.env)
}
