import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { PluginProcess } from '../../../shared/host/index.js'

// A plugin_cmd that cannot be started at all: the launcher rejects with the spawn error instead of
// waiting for an exit that never comes (the process never existed).
for (const [what, command] of [
  ['a missing file', join(tmpdir(), 'no-such-plugin-here', 'plugin')],
  [
    'a file that is not executable',
    (() => {
      const file = join(mkdtempSync(join(tmpdir(), 'noexec-')), 'plugin')
      writeFileSync(file, '#!/bin/sh\nexit 0\n', { mode: 0o644 })
      return file
    })(),
  ],
] as const) {
  test(`launching ${what} rejects with the spawn error`, async () => {
    await assert.rejects(
      PluginProcess.launch({ command, name: 'cr_test', side: 'server' }),
      (err: NodeJS.ErrnoException) => {
        assert.match(err.code ?? '', /^(ENOENT|EACCES)$/)
        assert.match(err.message, /^spawn /)
        return true
      },
    )
  })
}
