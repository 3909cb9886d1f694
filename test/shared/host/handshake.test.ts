import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseHandshakeLine } from '../../../shared/host/handshake.js'

test('go-plugin v1.8.0 accepts every form a plugin may print', () => {
  for (const line of [
    '1|1|unix|/abs/path/plugin.sock|grpc|',
    '1|1|unix|/abs/path/plugin.sock|grpc',
    '1|1|tcp|127.0.0.1:10001|grpc',
    '1|1|unix|/abs/path/plugin.sock|grpc|\n',
  ]) {
    assert.equal(parseHandshakeLine(line).protocol, 'grpc', line)
  }
})

test('go-plugin rejects what would break SPIRE, with its messages', () => {
  const cases: [string, RegExp][] = [
    ['hello world', /Unrecognized remote plugin message: hello world/],
    [
      '2|1|unix|/a|grpc|',
      /incompatible core API version with plugin. Plugin version: 2, Core version: 1/,
    ],
    [
      '1|2|unix|/a|grpc|',
      /incompatible API version with plugin. Plugin version: 2, Client versions: \[1\]/,
    ],
    ['1|x|unix|/a|grpc|', /Error parsing protocol version/],
    ['1|1|udp|/a|grpc|', /unknown address type/],
    ['1|1|unix|unix:///a.sock|grpc|', /absolute path/],
    ['1|1|unix|/a', /unsupported plugin protocol "netrpc". Supported: \[grpc\]/],
    ['1|1|unix|/a|netrpc|', /unsupported plugin protocol "netrpc"/],
    [`1|1|unix|/a|grpc|${'A'.repeat(60)}`, /server certificate/],
    ['1|1|unix|/a|grpc||true', /multiplex/],
  ]
  for (const [line, re] of cases) assert.throws(() => parseHandshakeLine(line), re, line)
})
