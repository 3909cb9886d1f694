import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:http2'
import { connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { healthService } from '../../../shared/plugin/go-plugin-services.js'
import { GrpcServer } from '../../../shared/plugin/grpc-server.js'
import { SERVICE, serviceDefinition } from '../../../shared/plugin/protos.js'
import { retireAfter, STREAMS_PER_CONNECTION } from '../../../shared/plugin/stream-budget.js'

/** The runtime's guard against nghttp2's reset budget (issue 12): connections retired by count. */

class FakeSession extends EventEmitter {
  closes = 0
  close(): void {
    this.closes++
  }
}

describe('retiring host connections before nghttp2 runs out of resets', () => {
  test('a connection is closed gracefully once, at its limit of streams', () => {
    const session = new FakeSession()
    retireAfter(session, 3)
    session.emit('stream')
    session.emit('stream')
    assert.equal(session.closes, 0)
    session.emit('stream')
    assert.equal(session.closes, 1)
    for (let i = 0; i < 10; i++) session.emit('stream')
    assert.equal(session.closes, 1)
  })

  test('the default limit leaves half of the reset burst (1,000) to spare', () => {
    assert.ok(STREAMS_PER_CONNECTION <= 500)
  })

  test("the plugin's server sends GOAWAY(NO_ERROR) after the limit, and the last stream still completes", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stream-budget-'))
    const server = new GrpcServer({ maxMessageBytes: 1024, streamsPerConnection: 3 })
    server.addService(SERVICE.health, healthService())
    try {
      const path = join(dir, 'plugin.sock')
      await server.listen(path)
      const session = connect('http://localhost', { createConnection: () => netConnect(path) })
      const goaways: number[] = []
      session.on('goaway', (code: number) => goaways.push(code))
      session.on('error', () => {})
      const check = serviceDefinition(SERVICE.health).Check!
      const body = check.requestSerialize({ service: 'plugin' })
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, body.length]), body])
      const statuses: string[] = []
      for (let i = 0; i < 3; i++) {
        const req = session.request({
          ':method': 'POST',
          ':path': check.path,
          'content-type': 'application/grpc',
          te: 'trailers',
        })
        req.end(frame)
        req.resume()
        statuses.push(
          await new Promise<string>((resolve) => {
            req.on('trailers', (h) => resolve(String(h['grpc-status'])))
            req.on('close', () => resolve('closed without status'))
          }),
        )
      }
      await new Promise<void>((resolve) => session.once('close', () => resolve()))
      assert.deepEqual(statuses, ['0', '0', '0'])
      // Node's graceful close: GOAWAY(NO_ERROR) at close(), once more as the last stream ends
      assert.ok(goaways.length >= 1)
      assert.deepEqual(
        goaways.filter((code) => code !== 0),
        [],
      )
    } finally {
      server.forceShutdown()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
