import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { COMMANDS, runCli } from '../../../shared/cli/cli.js'
import { CliError, withProgress } from '../../../shared/cli/command.js'
import { REPO_ROOT } from '../../support/paths.js'
import { recordingIo } from './io.js'

describe('spire-azure dispatcher', () => {
  test('no command: the overview on stdout, exit 2; --help: exit 0', async () => {
    const none = recordingIo()
    assert.equal(await runCli([], none), 2)
    assert.match(none.out, /^Usage: spire-azure <command> \[options\]/)
    for (const c of COMMANDS) assert.ok(none.out.includes(`  ${c.name}`), c.name)
    const help = recordingIo()
    assert.equal(await runCli(['--help'], help), 0)
    assert.equal(help.out, none.out)
  })

  test('every command has --help (exit 0) and `help <command>` shows the same', async () => {
    for (const c of COMMANDS) {
      const a = recordingIo()
      assert.equal(await runCli([c.name, '--help'], a), 0, c.name)
      assert.match(a.out, new RegExp(`^Usage: spire-azure ${c.name}`), c.name)
      const b = recordingIo()
      assert.equal(await runCli(['help', c.name], b), 0)
      assert.equal(b.out, a.out)
    }
  })

  test('unknown commands and options are usage errors: one line, a hint, exit 2', async () => {
    const io = recordingIo()
    assert.equal(await runCli(['frobnicate'], io), 2)
    assert.equal(
      io.err,
      `spire-azure: error: unknown command "frobnicate"\nhint: commands: ${COMMANDS.map((c) => c.name).join(', ')}; see 'spire-azure --help'\n`,
    )
    const opt = recordingIo()
    assert.equal(await runCli(['checksum', '--frob'], opt), 2)
    assert.match(
      opt.err,
      /^spire-azure: error: Unknown option '--frob'[^\n]*\nhint: see 'spire-azure checksum --help'\n$/,
    )
  })

  test('progress: a step still running after a second says so on stderr, then done/failed', async () => {
    const io = recordingIo()
    let release!: () => void
    const step = withProgress(
      io,
      'reading ARM',
      () => new Promise<string>((r) => (release = () => r('x'))),
    )
    assert.equal(io.pending.length, 1)
    assert.equal(io.pending[0]!.ms, 1_000)
    io.fireTimers()
    release()
    assert.equal(await step, 'x')
    assert.equal(io.err, 'reading ARM…\nreading ARM: done\n')

    const quick = recordingIo()
    await withProgress(quick, 'quick', async () => 1)
    assert.equal(quick.err, '')
    assert.equal(quick.pending.length, 0, 'the timer is cancelled')

    const failing = recordingIo()
    const f = withProgress(failing, 'slow', () => Promise.reject(new CliError('no')))
    failing.fireTimers()
    await assert.rejects(f, /no/)
    assert.equal(failing.err, 'slow…\nslow: failed\n')
  })

  test('the built executable: --help exit 0, no arguments exit 2, unknown command exit 2', () => {
    const bin = join(REPO_ROOT, 'dist', 'bin', 'spire-azure')
    const help = spawnSync(bin, ['--help'], { encoding: 'utf8' })
    assert.equal(help.status, 0)
    assert.match(help.stdout, /^Usage: spire-azure <command>/)
    assert.equal(spawnSync(bin, [], { encoding: 'utf8' }).status, 2)
    const bad = spawnSync(bin, ['nope'], { encoding: 'utf8' })
    assert.equal(bad.status, 2)
    assert.match(bad.stderr, /^spire-azure: error: unknown command "nope"\nhint: /)
  })
})
