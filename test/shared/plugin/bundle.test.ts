import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, describe, test } from 'node:test'
import { PluginProcess } from '../../../shared/host/index.js'
import { parsePluginLogLine } from '../../../shared/host/plugin-log.js'
import { NODE_FLAGS } from '../../support/node-flags.js'
import { REPO_ROOT } from '../../support/paths.js'
import { TEST_EXIT_GRACE_MS } from '../../support/plugins.js'

/**
 * The executables in dist/bin are what operators deploy (and checksum): each must run as a single
 * file copied anywhere, with nothing beside it — no node_modules, no package.json.
 */
const TENANT_ID = '0a1b2c3d-1111-2222-3333-444455556666'
const PLUGINS: { name: string; side: 'server' | 'agent'; hcl: string }[] = [
  {
    name: 'spire-server-nodeattestor-azure-msi',
    side: 'server',
    hcl: `tenants = { "${TENANT_ID}" = {} }`,
  },
  { name: 'spire-agent-nodeattestor-azure-msi', side: 'agent', hcl: '' },
  {
    name: 'spire-server-nodeattestor-azure-imds',
    side: 'server',
    hcl: `tenants = { "contoso.onmicrosoft.com" = { tenant_id = "${TENANT_ID}" } }`,
  },
  {
    name: 'spire-agent-nodeattestor-azure-imds',
    side: 'agent',
    hcl: 'tenant_domain = "contoso.onmicrosoft.com"',
  },
]

const dir = mkdtempSync(join(tmpdir(), 'lone'))
after(() => rmSync(dir, { recursive: true, force: true }))
/** A folder whose nearest package.json makes Node load extensionless files as ES modules. */
const esmDir = join(dir, 'esm-app')
mkdirSync(join(esmDir), { recursive: true })
writeFileSync(join(esmDir, 'package.json'), '{ "type": "module" }\n')

/** The operator's command line, bundled the same way (shared/cli/main.ts). */
const CLI = 'spire-azure'
const SHIPPED = [...PLUGINS.map((p) => p.name), CLI].sort()

test('package.json bin points at the five bundles: four plugins and the CLI', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    bin: Record<string, string>
  }
  assert.deepEqual(Object.keys(pkg.bin).sort(), SHIPPED)
  for (const [name, path] of Object.entries(pkg.bin)) assert.equal(path, `dist/bin/${name}`)
})

test('dist/bin holds only what ships: the four plugin executables and spire-azure', () => {
  assert.deepEqual(readdirSync(join(REPO_ROOT, 'dist/bin')).sort(), SHIPPED)
})

for (const where of ['a lone copy', 'a copy under a "type": "module" package.json'] as const) {
  test(`${CLI} --help runs from ${where}`, () => {
    const file = join(where === 'a lone copy' ? dir : esmDir, CLI)
    copyFileSync(join(REPO_ROOT, 'dist/bin', CLI), file)
    const r = spawnSync(file, ['--help'], { encoding: 'utf8', timeout: 30_000 })
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^Usage: spire-azure /)
    assert.equal(r.stderr, '')
  })
}

for (const p of PLUGINS) {
  for (const where of ['a lone copy', 'a copy under a "type": "module" package.json'] as const) {
    test(`${p.name} loads, configures and unloads from ${where}`, async () => {
      await loadsFrom(p, where === 'a lone copy' ? dir : esmDir)
    })
  }
}

async function loadsFrom(p: (typeof PLUGINS)[number], folder: string): Promise<void> {
  {
    const file = join(folder, p.name)
    copyFileSync(join(REPO_ROOT, 'dist/bin', p.name), file)
    const plugin = await PluginProcess.load({
      command: file,
      name: p.name,
      side: p.side,
      hcl: p.hcl,
    })
    const v = await plugin.validate(p.hcl)
    assert.equal(v.valid, true, v.notes.join('; '))
    // started by the kernel through its /bin/sh header: node runs it with the V8 flags
    const serving = plugin.logs.find((l) => l.message === 'Plugin serving')
    assert.equal(serving?.fields['node_flags'], NODE_FLAGS.join(' '))
    const res = await plugin.close({ exitGraceMs: TEST_EXIT_GRACE_MS })
    assert.equal(res.graceful, true)
    assert.deepEqual(plugin.hostPanics, [])
    assert.deepEqual(plugin.extraStdout, [])
    assert.equal(
      plugin.logs.find((l) => l.level === 'error'),
      undefined,
      JSON.stringify(plugin.logs.filter((l) => l.level === 'error')),
    )
  }
}

describe('a crash while a bundle starts is one hclog line, never minified source', () => {
  // the same wrapper the build puts around every plugin, around code that fails as it loads
  const wrap = async (code: string): Promise<string> => {
    const mod = (await import(
      pathToFileURL(join(REPO_ROOT, 'scripts', 'bundle-wrapper.mjs')).href
    )) as {
      wrapCommonJsBundle(code: string): string
    }
    return mod.wrapCommonJsBundle(code)
  }
  const SECRET_SOURCE = 'var minifiedSourceMarker=1;'
  const cases = [
    {
      name: 'a throw at load',
      code: `${SECRET_SOURCE}throw new TypeError("boom at load")`,
      error: 'boom at load',
      message: 'Plugin failed to start; exiting',
    },
    {
      name: 'a throw in a timer',
      code: `${SECRET_SOURCE}setTimeout(()=>{throw new Error("boom later")},1)`,
      error: 'boom later',
      message: 'Plugin crashed; exiting',
    },
    {
      name: 'an unhandled rejection',
      code: `${SECRET_SOURCE}Promise.reject(new Error("boom rejected"))`,
      error: 'boom rejected',
      message: 'Plugin crashed; exiting',
    },
  ]
  for (const c of cases) {
    for (const folder of [dir, esmDir]) {
      test(`${c.name} (${folder === dir ? 'CommonJS' : 'ES module'} folder)`, async () => {
        const file = join(folder, `crash-${cases.indexOf(c)}`)
        writeFileSync(file, await wrap(c.code))
        chmodSync(file, 0o755)
        const r = spawnSync(file, [], { encoding: 'utf8', timeout: 30_000 })
        assert.equal(r.status, 1)
        assert.equal(r.stdout, '')
        const lines = r.stderr.trimEnd().split('\n')
        assert.equal(lines.length, 1, r.stderr)
        assert.ok(!r.stderr.includes('minifiedSourceMarker'), 'no source on stderr')
        const entry = parsePluginLogLine(lines[0]!)
        assert.equal(entry.level, 'error')
        assert.equal(entry.message, c.message)
        assert.equal(entry.fields['error'], c.error)
        assert.ok(entry.timestamp)
      })
    }
  }
})
