// A throw-away PostgreSQL for a test (scripts/postgres.sh): Debian's binaries on 127.0.0.1, a free
// port, a unique temporary directory owned by the unprivileged user the server runs as, a database
// per test, stopped and removed afterwards. `postgresAvailable()` is synchronous so a describe() can
// skip with the reason at load time, as ensureSpire() does.
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { REPO_ROOT } from './paths.js'
import { freePort } from './spire.js'

const SCRIPT = join(REPO_ROOT, 'scripts', 'postgres.sh')

/** `{ ok: true }` when scripts/postgres.sh can start PostgreSQL here, else why not. */
export function postgresAvailable(): { ok: true; bin: string } | { skip: string } {
  const res = spawnSync('bash', [SCRIPT, 'check'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 10 * 60_000, // may install Debian's postgresql
  })
  if (res.status === 0) return { ok: true, bin: res.stdout.trim() }
  const reason = res.stderr.trim().split('\n').pop() ?? ''
  if (res.status === 3) return { skip: reason.replace(/^postgres\.sh: /, '') }
  throw new Error(`postgres.sh check failed (status ${res.status}): ${res.stderr}`)
}

/** Connection info as scripts/postgres.sh prints it. */
export interface PostgresInfo {
  /** The temporary directory: data/, sock/, postgres.log. */
  dir: string
  host: string
  port: number
  socketDir: string
  user: string
  /** The OS user the server runs as (never root). */
  runAs: string
  bin: string
}

export interface Postgres extends PostgresInfo {
  /** Creates a database; returns SPIRE's `connection_string` for it (libpq key=value form). */
  createDatabase(name: string): Promise<string>
  /** libpq key=value connection string for a database (TCP on loopback). */
  connectionString(database: string): string
  stop(): Promise<void>
}

/** Parses the KEY=VALUE lines of `postgres.sh start`. */
export function parseConnectionInfo(text: string): PostgresInfo {
  const kv = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^([A-Z]+)=(.*)$/.exec(line.trim())
    if (m) kv.set(m[1]!, m[2]!)
  }
  const get = (k: string): string => {
    const v = kv.get(k)
    if (v === undefined || v === '') throw new Error(`postgres.sh start printed no ${k}`)
    return v
  }
  return {
    dir: get('PGDIR'),
    host: get('PGHOST'),
    port: Number(get('PGPORT')),
    socketDir: get('PGSOCKETDIR'),
    user: get('PGUSER'),
    runAs: get('PGRUNAS'),
    bin: get('PGBIN'),
  }
}

function sh(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('exit', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}

/** Starts a PostgreSQL on a free loopback port in its own temporary directory. */
export async function startPostgres(): Promise<Postgres> {
  let last = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const res = await sh(['start', '--port', String(port)])
    if (res.status === 0) {
      const info = parseConnectionInfo(res.stdout)
      const connectionString = (database: string): string =>
        `dbname=${database} user=${info.user} host=${info.host} port=${info.port} sslmode=disable`
      return {
        ...info,
        connectionString,
        async createDatabase(name) {
          const made = await sh(['createdb', info.dir, name])
          if (made.status !== 0) throw new Error(`createdb ${name}: ${made.stderr}`)
          return connectionString(name)
        },
        async stop() {
          const stopped = await sh(['stop', info.dir])
          if (stopped.status !== 0) throw new Error(`postgres.sh stop: ${stopped.stderr}`)
        },
      }
    }
    last = res.stderr // e.g. the free port was taken meanwhile
  }
  throw new Error(`postgres.sh start failed:\n${last}`)
}
