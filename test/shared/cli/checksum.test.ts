import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { runCli } from '../../../shared/cli/cli.js'
import { PLUGIN_FILES } from '../../../shared/cli/checksum.js'
import { REPO_ROOT } from '../../support/paths.js'
import { recordingIo } from './io.js'

const sha256 = (path: string): string =>
  createHash('sha256').update(readFileSync(path)).digest('hex')
const BIN = join(REPO_ROOT, 'dist', 'bin')

describe('spire-azure checksum', () => {
  const dirs: string[] = []
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'spire-azure-checksum-'))
    dirs.push(d)
    return d
  }

  test('prints a NodeAttestor block per plugin with the SHA-256 SPIRE checks', async () => {
    const io = recordingIo()
    assert.equal(await runCli(['checksum', BIN], io), 0)
    for (const p of PLUGIN_FILES) {
      const path = join(BIN, p.file)
      assert.ok(
        io.out.includes(
          `NodeAttestor "${p.plugin}" {\n    plugin_cmd = ${JSON.stringify(path)}\n    plugin_checksum = "${sha256(path)}"\n`,
        ),
        `${p.file} in:\n${io.out}`,
      )
    }
    // server blocks under the server.conf heading, agent blocks under agent.conf's
    const server = io.out.indexOf('# server.conf')
    const agent = io.out.indexOf('# agent.conf')
    assert.ok(server >= 0 && agent > server)
    assert.ok(io.out.indexOf('spire-server-nodeattestor-azure-msi') < agent)
    assert.ok(io.out.indexOf('spire-agent-nodeattestor-azure-msi') > agent)
    assert.equal(io.err, '')
  })

  test('--json: one document; symbolic links resolve to the file SPIRE hashes', async () => {
    const dir = tempDir()
    symlinkSync(
      join(BIN, 'spire-agent-nodeattestor-azure-imds'),
      join(dir, 'spire-agent-nodeattestor-azure-imds'),
    )
    writeFileSync(join(dir, 'unrelated'), 'x')
    const io = recordingIo()
    assert.equal(await runCli(['checksum', dir, '--json'], io), 0)
    const doc = JSON.parse(io.out) as { dir: string; plugins: unknown[] }
    assert.deepEqual(doc, {
      dir,
      plugins: [
        {
          side: 'agent',
          plugin: 'azure_imds',
          path: join(BIN, 'spire-agent-nodeattestor-azure-imds'),
          sha256: sha256(join(BIN, 'spire-agent-nodeattestor-azure-imds')),
        },
      ],
    })
  })

  test('relative DIR is taken from the working directory; default is the CLI’s own folder', async () => {
    const rel = recordingIo({ cwd: REPO_ROOT })
    assert.equal(await runCli(['checksum', 'dist/bin', '--json'], rel), 0)
    const own = recordingIo({ programPath: join(BIN, 'spire-azure') })
    assert.equal(await runCli(['checksum', '--json'], own), 0)
    assert.deepEqual(JSON.parse(own.out), JSON.parse(rel.out))
  })

  test('no plugins: exit 1 with one error line and a hint; unreadable folder likewise', async () => {
    const empty = recordingIo()
    assert.equal(await runCli(['checksum', tempDir()], empty), 1)
    assert.match(
      empty.err,
      /^spire-azure: error: no spire-azure-attestor plugin executables in .+\nhint: expected one of: spire-server-nodeattestor-azure-msi, /,
    )
    assert.equal(empty.out, '')
    const missing = recordingIo()
    assert.equal(await runCli(['checksum', join(tempDir(), 'nope')], missing), 1)
    assert.match(missing.err, /^spire-azure: error: cannot read .+nope: ENOENT/)
    const json = recordingIo()
    assert.equal(await runCli(['checksum', tempDir(), '--json'], json), 1)
    assert.deepEqual(JSON.parse(json.out).plugins, [])
  })

  test('usage errors exit 2', async () => {
    const io = recordingIo()
    assert.equal(await runCli(['checksum', 'a', 'b'], io), 2)
    assert.match(io.err, /checksum takes at most one folder\nhint: /)
    const io2 = recordingIo()
    assert.equal(await runCli(['checksum', '--nope'], io2), 2)
  })

  test('the built executable prints the same lines', () => {
    const run = spawnSync(join(BIN, 'spire-azure'), ['checksum'], { encoding: 'utf8' })
    assert.equal(run.status, 0, run.stderr)
    for (const p of PLUGIN_FILES) assert.ok(run.stdout.includes(sha256(join(BIN, p.file))), p.file)
  })
})
