import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import {
  GoStreamClient,
  PluginProcess,
  serverAttest,
  type AttestTarget,
} from '../../../shared/host/index.js'
import { SERVICE, serviceDefinition } from '../../../shared/plugin/protos.js'
import { challengeResponse } from '../../attestors/challenge-response/common.js'
import { CR_SECRET, CR_SERVER_MAIN, loadCrServer } from '../../support/plugins.js'
import { END_STREAM, frameProxy } from './h2-frames.js'

/**
 * Issue 12's connection cliff. SPIRE's grpc-go client resets every Attest stream once and never
 * half-closes it; nghttp2 in the plugin counts each reset against a bucket of 1,000 (33/s refill) and
 * used to answer with GOAWAY(INTERNAL_ERROR), failing every attestation in flight on a Node host. The
 * launcher now sends grpc-go's frames, and the plugin retires a connection gracefully before the
 * bucket can empty (shared/plugin/stream-budget.ts). Counts only: attestations, frames, GOAWAYs.
 */

/** More resets than nghttp2's burst of 1,000 plus its refill over the run, at any plausible speed. */
const ATTESTATIONS = 1_500
const CONCURRENCY = 64
const NGHTTP2_NO_ERROR = 0
const NGHTTP2_INTERNAL_ERROR = 2

const open: PluginProcess[] = []
after(async () => {
  await Promise.all(open.map((p) => p.close().catch(() => {})))
})

const payloadFor = (identity: string): Uint8Array =>
  Buffer.from(JSON.stringify({ identity, selectors: [] }))

/** `n` attestations of distinct identities, `concurrency` at a time; failures counted by message. */
async function attestMany(
  target: AttestTarget,
  n: number,
  concurrency: number,
  tag: string,
): Promise<{ ok: number; failures: Map<string, number> }> {
  let next = 0
  let ok = 0
  const failures = new Map<string, number>()
  const worker = async (): Promise<void> => {
    for (let i = next++; i < n; i = next++) {
      const identity = `${tag}-${i}`
      try {
        await serverAttest(target, payloadFor(identity), {
          onChallenge: async (c) => challengeResponse(CR_SECRET, c, identity),
        })
        ok++
      } catch (err) {
        const key = (err as Error).message
        failures.set(key, (failures.get(key) ?? 0) + 1)
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { ok, failures }
}

const sum = (counts: Record<number, number>): number =>
  Object.values(counts).reduce((a, b) => a + b, 0)

/** Node binaries other than this one in the standalone build's cache (scripts/build-standalone.mjs). */
function cachedNodes(): { version: string; path: string }[] {
  const root = join(
    process.env.SPIRE_AZURE_CACHE ??
      join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'spire-azure-attestor'),
    'node',
  )
  if (!existsSync(root)) return []
  return readdirSync(root)
    .map((dir) => join(root, dir, 'node'))
    .filter((path) => existsSync(path))
    .map((path) => ({
      path,
      version: execFileSync(path, ['--version'], { encoding: 'utf8' }).trim(),
    }))
    .filter((n) => n.version.split('.')[0] !== process.version.split('.')[0])
}

describe('an eagerly cancelling host (SPIRE) meets no connection cliff', () => {
  test(
    "the launcher's Attest stream sends grpc-go's frames: one RST_STREAM, never END_STREAM",
    { timeout: 60_000 },
    async () => {
      const server = await loadCrServer()
      open.push(server)
      const proxy = await frameProxy(server.handshake.address)
      const client = new GoStreamClient('unix', proxy.address)
      const attest = serviceDefinition(SERVICE.serverNodeAttestor).Attest!
      const target: AttestTarget = {
        prefix: server.prefix,
        openGoAttestStream: <Req, Res>(metadata?: Record<string, string>) =>
          client.open<Req, Res>(
            attest.path,
            attest.requestSerialize as (v: Req) => Buffer,
            attest.responseDeserialize as (b: Buffer) => Res,
            metadata,
          ),
      }
      try {
        const run = await attestMany(target, 40, 8, 'frames')
        assert.deepEqual([...run.failures], [])
        assert.equal(run.ok, 40)
        // the last resets may still be on their way when the last result is in
        await proxy.until(() => proxy.fromHost.filter((f) => f.type === 'RST_STREAM').length >= 40)
      } finally {
        client.close()
        await proxy.close()
      }
      const streams = new Set(
        proxy.fromHost.filter((f) => f.type === 'HEADERS').map((f) => f.stream),
      )
      assert.equal(streams.size, 40)
      for (const id of streams) {
        const sent = proxy.fromHost.filter((f) => f.stream === id)
        assert.deepEqual(
          sent.map((f) => f.type),
          ['HEADERS', 'DATA', 'DATA', 'RST_STREAM'],
          `stream ${id}: headers, payload, challenge response, one reset`,
        )
        assert.equal(sent.filter((f) => f.flags & END_STREAM).length, 0, `stream ${id} half-closed`)
        assert.ok([NGHTTP2_NO_ERROR, 8].includes(sent[3]!.code!), `stream ${id} reset code`)
      }
      assert.equal(client.counts.connections, 1)
      assert.equal(sum(client.counts.resets), 40)
    },
  )

  const plugins: { label: string; command?: string }[] = [
    { label: `plugin on this Node (${process.version})` },
    ...cachedNodes().map((n) => ({ label: `plugin on Node ${n.version}`, command: n.path })),
  ]
  for (const plugin of plugins) {
    test(`${ATTESTATIONS} attestations at ${CONCURRENCY} streams, each reset at its result: ${plugin.label}`, async () => {
      const server =
        plugin.command === undefined
          ? await loadCrServer()
          : await PluginProcess.load({
              command: plugin.command,
              args: [CR_SERVER_MAIN],
              name: 'cr_test',
              side: 'server',
              hcl: `secret = "${CR_SECRET}"`,
            })
      open.push(server)
      const run = await attestMany(server, ATTESTATIONS, CONCURRENCY, 'eager')
      const t = server.transport
      assert.deepEqual([...run.failures], [], 'no attestation failed')
      assert.equal(run.ok, ATTESTATIONS)
      // what SPIRE sends: exactly one reset per attestation, far past nghttp2's burst of 1,000
      assert.equal(sum(t.resets), ATTESTATIONS)
      assert.equal(t.goaways[NGHTTP2_INTERNAL_ERROR] ?? 0, 0, 'no GOAWAY(INTERNAL_ERROR)')
      // the plugin retired connections gracefully instead, and the host carried on on new ones
      assert.ok((t.goaways[NGHTTP2_NO_ERROR] ?? 0) >= 1, JSON.stringify(t))
      assert.ok(t.connections >= 2, JSON.stringify(t))
    })
  }
})
