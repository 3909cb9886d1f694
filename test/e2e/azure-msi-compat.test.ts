import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { before, describe, test } from 'node:test'
import { DEFAULT_WORLD, World } from '../azure-emulator/index.js'
import { REPO_ROOT } from '../support/paths.js'
import { ensureSpire, SPIRE_VERSION } from '../support/spire.js'

/**
 * Wire compatibility with upstream, both ways, inside Azure in a box (a private network namespace
 * where the real Azure host names and 169.254.169.254 are the emulator): SPIRE's built-in azure_msi
 * server accepts our agent plugin, and our server plugin accepts SPIRE's built-in agent. Needs root
 * for the namespace; otherwise the test reports itself skipped.
 */
const spire = ensureSpire()
const BOX = join(REPO_ROOT, 'scripts', 'azure-in-a-box.sh')
const RUNNER = join(REPO_ROOT, 'dist', 'test', 'e2e', 'azure-msi-compat-runner.js')
const BOX_SKIP_STATUS = 77

function runInBox(
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [BOX, '--default-vm', 'frontend/blog', '--', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000)
    child.on('exit', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}

type Outcome = { spiffeId: string; selectors: string[] } | { error: string }

describe(
  `azure_msi is wire-compatible with SPIRE v${SPIRE_VERSION}'s built-in plugins`,
  { timeout: 300_000, skip: 'skip' in spire ? spire.skip : false },
  () => {
    let out: Record<string, Outcome> | undefined
    let boxSkip: string | undefined
    const world = new World(DEFAULT_WORLD)
    const blog = world.vm('frontend/blog')
    const sub = blog.resourceGroup.subscription
    const expectedId = `spiffe://example.org/spire/agent/azure_msi/${sub.tenant.tenantId}/${blog.identity.system!.principalId}`
    const upstreamFive = [
      `azure_msi:network-security-group:frontend:webservers`,
      `azure_msi:subscription-id:${sub.subscriptionId}`,
      `azure_msi:virtual-network-subnet:frontend:vnet:default`,
      `azure_msi:virtual-network:frontend:vnet`,
      `azure_msi:vm-name:frontend:blog`,
    ]

    before(async () => {
      if ('skip' in spire) return
      const r = await runInBox([process.execPath, RUNNER, spire.server, spire.agent])
      if (r.status === BOX_SKIP_STATUS) {
        boxSkip = `box unavailable: ${r.stderr.trim()}`
        return
      }
      assert.equal(r.status, 0, r.stderr.slice(-4000))
      out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, Outcome>
    })

    test('our server accepts the upstream agent: same agent ID, upstream selectors and more', (t) => {
      if (boxSkip !== undefined) return t.skip(boxSkip)
      const o = out?.upstreamAgentToOurs
      assert.ok(o !== undefined && 'spiffeId' in o, JSON.stringify(o))
      assert.equal(o.spiffeId, expectedId)
      for (const s of upstreamFive) assert.ok(o.selectors.includes(s), s)
      assert.ok(o.selectors.includes('azure_msi:resource-group:frontend'))
      assert.ok(o.selectors.includes(`azure_msi:tenant-id:${sub.tenant.tenantId}`))
      assert.ok(o.selectors.includes(`azure_msi:principal-id:${blog.identity.system!.principalId}`))
      assert.ok(!o.selectors.some((s) => s.startsWith('azure_msi:client-id:')))
    })

    test('the upstream server accepts our agent: same agent ID, its own five selectors', (t) => {
      if (boxSkip !== undefined) return t.skip(boxSkip)
      const o = out?.ourAgentToUpstream
      assert.ok(o !== undefined)
      assert.ok('spiffeId' in o, JSON.stringify(o))
      assert.equal(o.spiffeId, expectedId)
      assert.deepEqual([...o.selectors].sort(), upstreamFive)
    })
  },
)
