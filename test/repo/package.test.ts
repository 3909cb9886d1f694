import assert from 'node:assert/strict'
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { isBuiltin } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { brotliDecompressSync } from 'node:zlib'
import { after, before, describe, test } from 'node:test'
import { PluginProcess } from '../../shared/host/index.js'
import { NOT_A_PROGRAM_MESSAGE } from '../../shared/plugin/handshake.js'
import { REPO_ROOT } from '../support/paths.js'
import { TEST_EXIT_GRACE_MS } from '../support/plugins.js'

/**
 * Issue 11 §5: what `npm pack` ships, and that it runs. The tarball holds the five bundled
 * executables, the docs, README and package.json — no tests, fixtures or sources — and declares no
 * dependencies (every bin is self-contained, scripts/build.mjs), so it installs with --offline into
 * an empty project; every bin then runs from node_modules/.bin, and each plugin completes a real
 * go-plugin handshake through the host launcher.
 */
const TENANT_ID = '0a1b2c3d-1111-2222-3333-444455556666'
const PLUGINS: { name: string; side: 'server' | 'agent'; plugin: string; hcl: string }[] = [
  {
    name: 'spire-server-nodeattestor-azure-msi',
    side: 'server',
    plugin: 'azure_msi',
    hcl: `tenants = { "${TENANT_ID}" = {} }`,
  },
  { name: 'spire-agent-nodeattestor-azure-msi', side: 'agent', plugin: 'azure_msi', hcl: '' },
  {
    name: 'spire-server-nodeattestor-azure-imds',
    side: 'server',
    plugin: 'azure_imds',
    hcl: `tenants = { "contoso.onmicrosoft.com" = { tenant_id = "${TENANT_ID}" } }`,
  },
  {
    name: 'spire-agent-nodeattestor-azure-imds',
    side: 'agent',
    plugin: 'azure_imds',
    hcl: 'tenant_domain = "contoso.onmicrosoft.com"',
  },
]
const CLI = 'spire-azure'
const PACKAGE = 'spire-azure-attestor'

interface PackedFile {
  path: string
  mode: number
}

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>
  spireAzure: { lazy: string[] }
}
const work = mkdtempSync(join(tmpdir(), 'pack'))
after(() => rmSync(work, { recursive: true, force: true }))
const project = join(work, 'project')
const installed = join(project, 'node_modules', PACKAGE)
const binOf = (name: string): string => join(project, 'node_modules', '.bin', name)

/** The environment without what `npm test` exports (npm_config_local_prefix would point at this repo). */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('npm_') && k !== 'NodeAttestor') env[k] = v
  }
  return { ...env, ...extra }
}

/** npm itself: the npm running these tests if there is one, else the one on PATH. */
function npm(args: string[], cwd: string): SpawnSyncReturns<string> {
  const cli = process.env.npm_execpath
  const [cmd, pre] = cli?.endsWith('.js') ? [process.execPath, [cli]] : ['npm', []]
  return spawnSync(cmd, [...pre, ...args], {
    cwd,
    env: cleanEnv({ npm_config_cache: join(work, 'npm-cache') }),
    encoding: 'utf8',
    timeout: 120_000,
  })
}

let files: PackedFile[] = []
let tarball = ''

before(() => {
  const packed = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], REPO_ROOT)
  assert.equal(packed.status, 0, packed.stderr)
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: PackedFile[] }[]
  files = info!.files
  tarball = join(work, info!.filename)
  mkdirSync(project)
  writeFileSync(join(project, 'package.json'), '{ "name": "empty-project", "private": true }\n')
  const install = npm(['install', '--offline', '--no-audit', '--no-fund', tarball], project)
  assert.equal(install.status, 0, install.stderr)
})

describe('npm pack', () => {
  test('the tarball holds only what runs: the five executables, docs (with their SVG charts), README, package.json', () => {
    const allowed = (p: string): boolean =>
      ['package.json', 'README.md', 'LICENSE'].includes(p) ||
      Object.values(pkg.bin).includes(p) ||
      /^docs\/[\w./-]+\.md$/.test(p) ||
      /^docs\/images\/[\w.-]+\.svg$/.test(p)
    assert.deepEqual(
      files.map((f) => f.path).filter((p) => !allowed(p)),
      [],
    )
    for (const name of [...PLUGINS.map((p) => p.name), CLI]) {
      const f = files.find((x) => x.path === `dist/bin/${name}`)
      assert.ok(f, `${name} is packed`)
      assert.equal(f.mode & 0o111, 0o111, `${name} is executable`)
    }
    assert.ok(files.some((f) => f.path === 'README.md'))
    assert.ok(files.some((f) => f.path === 'docs/plugin_server_nodeattestor_azure_msi.md'))
  })

  test('the packed package declares no dependencies, and installing it pulls in nothing else', () => {
    const packed = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >
    assert.equal(packed.dependencies, undefined)
    assert.equal(packed.optionalDependencies, undefined)
    assert.equal(packed.peerDependencies, undefined)
    assert.deepEqual(
      readdirSync(join(project, 'node_modules'))
        .filter((n) => !n.startsWith('.'))
        .sort(),
      [PACKAGE],
    )
  })

  test('no bin requires a package at run time, not even inside its lazy chunks', () => {
    // a require of a non-builtin inside a bundle is a lazy package (the chunk runtime answers it
    // from the same file) or an optional one guarded by try/catch (debug's supports-color)
    const offenders: string[] = []
    let chunks = 0
    for (const name of Object.keys(pkg.bin)) {
      const text = readFileSync(join(installed, 'dist', 'bin', name), 'utf8')
      const sources = [{ where: name, text }]
      for (const m of text.matchAll(/\("([^"]+)","([A-Za-z0-9+/=]{200,})",/g)) {
        assert.ok(pkg.spireAzure.lazy.includes(m[1]!), `${m[1]} is a lazy package`)
        const chunk = brotliDecompressSync(Buffer.from(m[2]!, 'base64')).toString('utf8')
        sources.push({ where: `${name} [${m[1]}]`, text: chunk })
        chunks++
      }
      for (const s of sources) {
        for (const m of s.text.matchAll(/\brequire\(\s*(["'`])([^"'`]+)\1\s*\)/g)) {
          const id = m[2]!
          if (isBuiltin(id) || pkg.spireAzure.lazy.includes(id)) continue
          const before = s.text.slice(Math.max(0, m.index - 40), m.index)
          if (/try\s*\{[^}]*$/.test(before)) continue
          offenders.push(`${s.where}: require(${JSON.stringify(id)})`)
        }
      }
    }
    assert.ok(chunks > 0, 'the lazy chunks were found and inspected')
    assert.deepEqual(offenders, [])
  })
})

describe('every bin runs from node_modules/.bin of a clean install', () => {
  for (const p of PLUGINS) {
    test(`${p.name} run by hand prints go-plugin's message and exits 1`, () => {
      const r = spawnSync(binOf(p.name), [], { env: cleanEnv(), encoding: 'utf8' })
      assert.equal(r.status, 1)
      assert.equal(r.stderr, NOT_A_PROGRAM_MESSAGE)
      assert.equal(r.stdout, '')
    })

    test(`${p.name} completes a go-plugin handshake, Init and Configure through the host launcher`, async () => {
      const plugin = await PluginProcess.load({
        command: binOf(p.name),
        name: p.plugin,
        side: p.side,
        hcl: p.hcl,
      })
      assert.equal(plugin.handshake.protocol, 'grpc')
      const v = await plugin.validate(p.hcl)
      assert.equal(v.valid, true, v.notes.join('; '))
      const res = await plugin.close({ exitGraceMs: TEST_EXIT_GRACE_MS })
      assert.equal(res.graceful, true)
      assert.deepEqual(plugin.extraStdout, [])
      assert.equal(
        plugin.logs.find((l) => l.level === 'error'),
        undefined,
      )
    })
  }

  test(`${CLI} --help exits 0`, () => {
    const r = spawnSync(binOf(CLI), ['--help'], { env: cleanEnv(), encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^Usage: spire-azure /)
  })

  test(`${CLI} checksum prints the installed plugins' paths and SHA-256`, () => {
    const r = spawnSync(binOf(CLI), ['checksum', '--json'], { env: cleanEnv(), encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    const doc = JSON.parse(r.stdout) as { plugins: { path: string; sha256: string }[] }
    const expected = PLUGINS.map((p) => {
      const path = realpathSync(binOf(p.name))
      return [path, createHash('sha256').update(readFileSync(path)).digest('hex')]
    })
    assert.deepEqual(doc.plugins.map((p) => [p.path, p.sha256]).sort(), expected.sort())
  })
})
