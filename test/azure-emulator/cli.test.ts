// `npm run emulator` as a user runs it: exactly one JSON document on stdout, and a clean stop (its
// node child included, its CA folder removed) when the npm process gets SIGINT or SIGTERM.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, test } from 'node:test'
import { REPO_ROOT } from '../support/paths.js'

interface EmulatorInfo {
  pid: number
  mode: string
  imds: string
  entra: string
  arm: string
  issuers: string
  caFile: string
  tenants: { name: string; tenantId: string }[]
  vms: string[]
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Waits until `pid` has exited (polling a signal-0 probe; bounded by count, a hang guard only). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 600 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50))
  return !alive(pid)
}

describe('npm run --silent emulator', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`one JSON document on stdout, then a clean stop on ${signal} to npm`, async () => {
      const npm = spawn('npm', ['run', '--silent', 'emulator'], {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stdout = ''
      let stderr = ''
      npm.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
      npm.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
      const exited = once(npm, 'exit')
      while (!stdout.includes('\n')) {
        await Promise.race([once(npm.stdout, 'data'), exited])
        assert.equal(npm.exitCode, null, `npm exited early: ${stderr}`)
      }
      const info = JSON.parse(stdout) as EmulatorInfo
      assert.equal(info.mode, 'loopback')
      assert.ok(info.tenants.length > 0 && info.vms.length > 0)
      assert.ok(existsSync(info.caFile))
      // the endpoints answer
      const res = await fetch(`${info.imds}/metadata/instance?api-version=2021-12-13`, {
        headers: { Metadata: 'true' },
      })
      assert.equal(res.status, 200)
      assert.notEqual(info.pid, npm.pid, 'the emulator is npm’s child, not npm itself')

      npm.kill(signal)
      await exited
      assert.ok(await gone(info.pid), `the emulator (pid ${info.pid}) outlived npm`)
      assert.equal(existsSync(dirname(info.caFile)), false, 'its CA folder is removed')
      // the whole of stdout is that one document
      assert.deepEqual(JSON.parse(stdout), info)
      assert.equal(stdout.trim().split('\n').length, 1)
    })
  }

  test('--write-env writes the variables the emulator example configs expand', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'emulator-env-'))
    try {
      const envFile = join(dir, 'emulator.env')
      const npm = spawn(
        'npm',
        [
          'run',
          '--silent',
          'emulator',
          '--',
          '--write-env',
          envFile,
          '--run-dir',
          join(dir, 'run'),
        ],
        { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
      )
      const exited = once(npm, 'exit')
      let stdout = ''
      npm.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
      while (!stdout.includes('\n')) {
        await Promise.race([once(npm.stdout, 'data'), exited])
        assert.equal(npm.exitCode, null, 'the emulator exited early')
      }
      const info = JSON.parse(stdout) as EmulatorInfo
      // the file is POSIX shell: source it and read the variables back
      const read = spawnSync('bash', ['-c', `set -a; . ${JSON.stringify(envFile)}; set +a; env`], {
        encoding: 'utf8',
      })
      const vars = Object.fromEntries(
        read.stdout
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      )
      assert.equal(vars['AZURE_EMULATOR_ENTRA'], info.entra)
      assert.equal(vars['AZURE_EMULATOR_ARM'], info.arm)
      assert.equal(vars['AZURE_EMULATOR_CA_FILE'], info.caFile)
      assert.equal(vars['AZURE_TENANT_ID'], info.tenants[0]!.tenantId)
      assert.equal(vars['SPIRE_AZURE_RUN'], join(dir, 'run'))
      assert.match(vars['AZURE_EMULATOR_IMDS_AZURE_MSI'] ?? '', /^http:\/\/127\.0\.0\.1:\d+\/_vm\//)
      assert.ok(
        existsSync(vars['OIDC_CERT_FILE']!),
        'the discovery provider’s certificate is written',
      )
      npm.kill('SIGTERM')
      await exited
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
