// `npm run demo` end to end, as a user runs it: real SPIRE, both attestors, workload SVIDs through the
// Workload API, and a Resource Manager call made with a federated Entra token. Then: nothing left
// behind — no process, socket or temporary directory — after a normal exit and after Ctrl-C.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import type { DemoResult } from '../../examples/demo/demo.js'
import { REPO_ROOT } from '../support/paths.js'
import { ensureSpire } from '../support/spire.js'

const spire = ensureSpire()
const skip = 'skip' in spire ? spire.skip : false

/**
 * Each run gets its own TMPDIR, so what it leaves behind is told apart from other tests' (the
 * federation test runs the same demo code concurrently): its temporary directories are the entries
 * of that TMPDIR, and its processes are those whose working directory is inside it (SPIRE, its
 * plugins and the discovery provider all run there).
 */
function privateTmp(): { root: string; leftovers: () => string[]; processes: () => string[] } {
  const root = mkdtempSync(join(tmpdir(), 'demo-test-'))
  return {
    root,
    leftovers: () => readdirSync(root),
    processes: () => {
      const out: string[] = []
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        try {
          if (readlinkSync(`/proc/${pid}/cwd`).startsWith(root)) out.push(pid)
        } catch {
          // gone, or not ours to read
        }
      }
      return out
    },
  }
}

function startDemo(args: string[], tmp: string) {
  const child = spawn('npm', ['run', '--silent', 'demo', '--', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    // the emulator's key cache stays where it always is (a cache by design, shared across runs)
    env: {
      ...process.env,
      TMPDIR: tmp,
      AZURE_EMULATOR_KEY_CACHE:
        process.env['AZURE_EMULATOR_KEY_CACHE'] ?? join(tmpdir(), 'spire-azure-emulator-keys.json'),
    },
  })
  const out = { stdout: '', stderr: '' }
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out.stdout += c))
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out.stderr += c))
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return { child, out, exited }
}

describe('npm run demo', { skip, timeout: 600_000 }, () => {
  test('--json: two attested agents, two workload SVIDs, a federated ARM call; nothing left behind', async () => {
    const tmp = privateTmp()
    const { out, exited } = startDemo(['--json'], tmp.root)
    const [code] = await exited
    assert.equal(code, 0, out.stderr)
    const demo = JSON.parse(out.stdout) as DemoResult
    assert.equal(demo.agents.length, 2)
    const [msi, imds] = demo.agents
    assert.equal(msi?.attestor, 'azure_msi')
    assert.match(
      msi!.agentId,
      /^spiffe:\/\/example\.org\/spire\/agent\/azure_msi\/[0-9a-f-]{36}\/[0-9a-f-]{36}$/,
    )
    assert.ok(msi!.selectors.includes('azure_msi:vm-name:frontend:blog'))
    assert.equal(msi!.x509Svid.spiffeId, 'spiffe://example.org/workload/blog-web')
    assert.equal(imds?.attestor, 'azure_imds')
    assert.match(
      imds!.agentId,
      /^spiffe:\/\/example\.org\/spire\/agent\/azure_imds\/[0-9a-f-]{36}\/[0-9a-f-]{36}\/[0-9a-f-]{36}$/,
    )
    // the workload entry hangs on an azure_imds selector: the SVID proves SPIRE matched it
    assert.equal(imds!.nodeEntry.selector, 'azure_imds:vm-tag:environment:batch')
    assert.ok(imds!.selectors.includes('azure_imds:vm-tag:environment:batch'))
    assert.equal(imds!.x509Svid.spiffeId, 'spiffe://example.org/workload/batch-job')
    const f = demo.federation
    assert.equal(f.audience, 'api://AzureADTokenExchange')
    assert.equal(f.result.spiffeId, 'spiffe://example.org/workload/blog-web')
    assert.equal(f.result.arm.status, 200)
    assert.equal(f.result.arm.displayName, 'Contoso Production')
    // one progress line per step on stderr
    assert.ok(out.stderr.split('\n').filter((l) => l.startsWith('demo: ')).length >= 10, out.stderr)
    assert.deepEqual(tmp.leftovers(), [], 'temporary directory removed')
    assert.deepEqual(tmp.processes(), [], 'no process left')
    rmSync(tmp.root, { recursive: true, force: true })
  })

  test('--keep leaves it running and says how to talk to it; Ctrl-C then cleans up', async () => {
    const tmp = privateTmp()
    const { child, out, exited } = startDemo(['--keep'], tmp.root)
    try {
      // stdout (the summary) and stderr (how to talk to it) are two pipes: wait for both
      await new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (out.stderr.includes('Ctrl-C stops it all.') && out.stdout.includes('Done in'))
            resolve()
        }
        child.stdout.on('data', check)
        child.stderr.on('data', check)
        child.once('exit', () => reject(new Error(`the demo exited early: ${out.stderr}`)))
        check()
      })
      assert.match(out.stdout, /Secretless Azure access/)
      assert.match(out.stderr, /spire-server entry show -socketPath /)
      // server, two agents, the discovery provider, and the server's and agents' plugins
      assert.ok(tmp.processes().length >= 8, `running: ${tmp.processes().length}`)
      child.kill('SIGINT')
      const [code] = await exited
      assert.equal(code, 130)
    } finally {
      if (child.exitCode === null) {
        child.kill('SIGINT')
        await exited
      }
    }
    assert.deepEqual(tmp.leftovers(), [], 'temporary directory removed')
    assert.deepEqual(tmp.processes(), [], 'no process left')
    rmSync(tmp.root, { recursive: true, force: true })
  })
})
