import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { parseHandshakeLine } from '../../../shared/host/handshake.js'
import {
  createSocketPlace,
  formatHandshake,
  hasMagicCookie,
  negotiateProtocol,
} from '../../../shared/plugin/handshake.js'

test('magic cookie: key and value are both the plugin type', () => {
  assert.equal(hasMagicCookie({ NodeAttestor: 'NodeAttestor' }, 'NodeAttestor'), true)
  assert.equal(hasMagicCookie({}, 'NodeAttestor'), false)
  assert.equal(hasMagicCookie({ NodeAttestor: 'KeyManager' }, 'NodeAttestor'), false)
})

test('protocol negotiation always answers 1 and explains a bad offer', () => {
  assert.deepEqual(negotiateProtocol({}), { version: 1 })
  assert.deepEqual(negotiateProtocol({ PLUGIN_PROTOCOL_VERSIONS: '1' }), { version: 1 })
  assert.deepEqual(negotiateProtocol({ PLUGIN_PROTOCOL_VERSIONS: '2, 1' }), { version: 1 })
  assert.match(negotiateProtocol({ PLUGIN_PROTOCOL_VERSIONS: '2' }).warning ?? '', /speaks 1/)
  assert.match(negotiateProtocol({ PLUGIN_PROTOCOL_VERSIONS: 'x' }).warning ?? '', /malformed/)
})

test('the handshake line is 1|1|unix|<bare absolute path>|grpc| and parses as go-plugin does', () => {
  const line = formatHandshake(1, '/tmp/pluginabc/plugin.sock')
  assert.equal(line, '1|1|unix|/tmp/pluginabc/plugin.sock|grpc|\n')
  assert.deepEqual(parseHandshakeLine(line), {
    coreVersion: 1,
    appVersion: 1,
    network: 'unix',
    address: '/tmp/pluginabc/plugin.sock',
    protocol: 'grpc',
  })
})

test('socket place honours PLUGIN_UNIX_SOCKET_DIR and rejects paths over sun_path', () => {
  const base = mkdtempSync(join(tmpdir(), 'sock'))
  try {
    const place = createSocketPlace({ PLUGIN_UNIX_SOCKET_DIR: base })
    assert.equal(dirname(place.dir), base)
    assert.ok(place.path.endsWith('/plugin.sock'))
    assert.throws(
      () => createSocketPlace({ PLUGIN_UNIX_SOCKET_DIR: join(base, 'x'.repeat(120)) }),
      /ENOENT|longer than/,
    )
    const long = join(base, 'y'.repeat(90))
    mkdirSync(long, { recursive: true })
    assert.throws(
      () => createSocketPlace({ PLUGIN_UNIX_SOCKET_DIR: long }),
      /longer than 103 bytes/,
    )
    assert.ok(existsSync(long))
    assert.deepEqual(readdirSync(long), [], 'no directory left behind')
  } finally {
    rmSync(base, { recursive: true, force: true })
  }
})
