import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { PluginProcess } from '../../../shared/host/index.js'
import { REPO_ROOT } from '../../support/paths.js'

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

test('package.json bin points at the four bundles', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    bin: Record<string, string>
  }
  assert.deepEqual(Object.keys(pkg.bin).sort(), PLUGINS.map((p) => p.name).sort())
  for (const [name, path] of Object.entries(pkg.bin)) assert.equal(path, `dist/bin/${name}`)
})

for (const p of PLUGINS) {
  test(`${p.name} loads, configures and unloads from a lone copy`, async () => {
    const file = join(dir, p.name)
    copyFileSync(join(REPO_ROOT, 'dist/bin', p.name), file)
    const plugin = await PluginProcess.load({
      command: file,
      name: p.name,
      side: p.side,
      hcl: p.hcl,
    })
    const v = await plugin.validate(p.hcl)
    assert.equal(v.valid, true, v.notes.join('; '))
    const res = await plugin.close()
    assert.equal(res.graceful, true)
    assert.deepEqual(plugin.hostPanics, [])
    assert.deepEqual(plugin.extraStdout, [])
    assert.equal(
      plugin.logs.find((l) => l.level === 'error'),
      undefined,
      JSON.stringify(plugin.logs.filter((l) => l.level === 'error')),
    )
  })
}
