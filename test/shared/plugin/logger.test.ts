import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parsePluginLogLine } from '../../../shared/host/plugin-log.js'
import {
  coalescingWriter,
  createHclogLogger,
  hclogTimestamp,
} from '../../../shared/plugin/logger.js'

const NOW = new Date('2026-01-02T03:04:05.678Z')

function capture(level?: 'trace' | 'debug' | 'info' | 'warn' | 'error') {
  const lines: string[] = []
  const log = createHclogLogger({
    write: (l) => lines.push(l),
    now: () => NOW,
    module: 'azure_msi',
    ...(level ? { level } : {}),
  })
  return { lines, log }
}

test('every line is one JSON object whose @ fields are strings, timestamp with six fractional digits', () => {
  const { lines, log } = capture()
  log.info('Signing keys refreshed', { kid: 'abc', count: 3, nested: { a: 1 } })
  assert.equal(lines.length, 1)
  const line = lines[0]!
  assert.ok(line.endsWith('\n'))
  assert.equal(line.indexOf('\n'), line.length - 1, 'exactly one physical line')
  const obj = JSON.parse(line) as Record<string, unknown>
  assert.equal(obj['@level'], 'info')
  assert.equal(obj['@message'], 'Signing keys refreshed')
  assert.equal(obj['@timestamp'], '2026-01-02T03:04:05.678000Z')
  assert.equal(obj['@module'], 'azure_msi')
  assert.equal(obj.count, 3)
  for (const k of ['@level', '@message', '@timestamp']) assert.equal(typeof obj[k], 'string')
})

test('go-plugin parses our lines at their level, with fields and no host panic', () => {
  const { lines, log } = capture()
  log.trace('t')
  log.debug('d')
  log.info('i', { spiffe_id: 'spiffe://x/y' })
  log.warn('w')
  log.error('e', { error: new Error('boom') })
  const parsed = lines.map((l) => parsePluginLogLine(l.trimEnd()))
  assert.deepEqual(
    parsed.map((p) => p.level),
    ['trace', 'debug', 'info', 'warn', 'error'],
  )
  assert.deepEqual(
    parsed.map((p) => p.message),
    ['t', 'd', 'i', 'w', 'e'],
  )
  assert.equal(parsed[2]!.fields.spiffe_id, 'spiffe://x/y')
  assert.equal(parsed[4]!.fields.error, 'boom')
  assert.ok(parsed.every((p) => p.hostPanic === undefined && p.timestamp !== undefined))
})

test('messages with newlines stay on one physical line', () => {
  const { lines, log } = capture()
  log.warn('first\nsecond', { detail: 'a\nb' })
  assert.equal(lines[0]!.split('\n').length, 2)
  assert.equal(parsePluginLogLine(lines[0]!.trimEnd()).message, 'first\nsecond')
})

test('fields cannot overwrite the @ keys (a number there would crash SPIRE)', () => {
  const { lines, log } = capture()
  log.info('safe', { '@message': 123, '@level': 5, '@timestamp': 7 })
  const entry = parsePluginLogLine(lines[0]!.trimEnd())
  assert.equal(entry.hostPanic, undefined)
  assert.equal(entry.message, 'safe')
})

test('lines stay well under the host 64 KiB buffer', () => {
  const { lines, log } = capture()
  log.info('big', { blob: 'x'.repeat(200_000) })
  assert.ok(Buffer.byteLength(lines[0]!) < 64 * 1024)
  assert.equal(parsePluginLogLine(lines[0]!.trimEnd()).level, 'info')
})

test('level filter and with() fields', () => {
  const { lines, log } = capture('warn')
  log.info('hidden')
  log.with({ tenant_id: 't1' }).warn('shown')
  assert.equal(lines.length, 1)
  assert.equal(JSON.parse(lines[0]!).tenant_id, 't1')
})

test('hclogTimestamp has the layout 2006-01-02T15:04:05.000000Z07:00', () => {
  assert.match(hclogTimestamp(new Date()), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/)
})

test('host-side parsing mirrors go-plugin for foreign lines', () => {
  const cases: [string, string, boolean][] = [
    ['{"@level":"info","@message":123}', 'error', true],
    ['{"@level":"info","@message":null}', 'error', true],
    ['{"@level":"info","@message":"x","@timestamp":"2026-01-02T03:04:05.678Z"}', 'debug', false],
    ['{"@level":"WARNING","@message":"x"}', 'debug', false],
    ['{"@level":"WARN","@message":"x"}', 'warn', false],
    ['[ERROR] text', 'error', false],
    ['plain text', 'debug', false],
  ]
  for (const [line, level, panic] of cases) {
    const e = parsePluginLogLine(line)
    assert.equal(e.level, level, line)
    assert.equal(e.hostPanic !== undefined, panic, line)
  }
})

test('coalescingWriter: the lines of one turn leave in one write, in order; flush empties it now', () => {
  const writes: string[] = []
  const turns: (() => void)[] = []
  const w = coalescingWriter(
    (chunk) => writes.push(chunk),
    (fn) => turns.push(fn),
  )
  w.write('a\n')
  w.write('b\n')
  w.write('c\n')
  assert.deepEqual(writes, [], 'nothing is written before the turn ends')
  assert.equal(turns.length, 1, 'one flush scheduled per turn, not per line')
  turns.shift()!()
  assert.deepEqual(writes, ['a\nb\nc\n'])
  w.write('d\n')
  w.flush() // the exit path
  assert.deepEqual(writes, ['a\nb\nc\n', 'd\n'])
  turns.shift()!() // the turn's own flush finds nothing left
  assert.deepEqual(writes, ['a\nb\nc\n', 'd\n'])
})

test('coalescingWriter: a turn holding more than 64 KiB is written without waiting for its end', () => {
  const writes: string[] = []
  const w = coalescingWriter(
    (chunk) => writes.push(chunk),
    () => {},
  )
  const line = 'x'.repeat(1023) + '\n'
  for (let i = 0; i < 64; i++) w.write(line)
  assert.equal(writes.length, 1)
  assert.equal(writes[0]!.length, 64 * 1024)
})
