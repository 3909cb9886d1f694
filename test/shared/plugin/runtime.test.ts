import { status as GrpcStatus } from '@grpc/grpc-js'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, describe, test } from 'node:test'
import {
  AgentSession,
  attestAgentToServer,
  HostCallError,
  PluginProcess,
  serverAttest,
} from '../../../shared/host/index.js'
import { challengeResponse } from '../../attestors/challenge-response/common.js'
import {
  CR_SECRET,
  CR_SERVER_MAIN,
  launchCr,
  loadCrAgent,
  loadCrServer,
  TEST_EXIT_GRACE_MS,
} from '../../support/plugins.js'

const SERVER_SERVICES = [
  'spire.plugin.server.nodeattestor.v1.NodeAttestor',
  'spire.service.common.config.v1.Config',
]
const AGENT_SERVICES = [
  'spire.plugin.agent.nodeattestor.v1.NodeAttestor',
  'spire.service.common.config.v1.Config',
]

const open: PluginProcess[] = []
after(async () => {
  await Promise.all(open.map((p) => p.close().catch(() => {})))
})
const track = <T extends PluginProcess>(p: T): T => {
  open.push(p)
  return p
}

function payloadFor(identity: string, selectors: string[] = []): Uint8Array {
  return Buffer.from(JSON.stringify({ identity, selectors }))
}

function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  return assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof HostCallError, `expected HostCallError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    if (message) assert.match(err.details, message)
    return true
  })
}

describe('launch and handshake', () => {
  test('run by hand: go-plugin message on stderr, exit 1, nothing on stdout', async () => {
    const child = spawn(CR_SERVER_MAIN, [], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)))
    assert.equal(code, 1)
    assert.equal(out, '')
    assert.match(err, /^This binary is a plugin\. These are not meant to be executed directly\./)
  })

  test('bind first, then one handshake line; socket in PLUGIN_UNIX_SOCKET_DIR, removed on shutdown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'psd'))
    try {
      const p = await launchCr('server', { env: { PLUGIN_UNIX_SOCKET_DIR: dir } })
      assert.equal(p.handshake.network, 'unix')
      assert.equal(dirname(dirname(p.handshake.address)), dir)
      assert.ok(existsSync(p.handshake.address))
      const res = await p.close({ exitGraceMs: TEST_EXIT_GRACE_MS })
      assert.equal(res.graceful, true)
      assert.equal(res.code, 0)
      assert.ok(res.elapsedMs < 2_000, `unload took ${res.elapsedMs} ms`)
      assert.equal(existsSync(dirname(p.handshake.address)), false, 'socket dir removed')
      assert.deepEqual(p.extraStdout, [])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('a socket dir too long for sun_path fails with a clear log line and exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'x'.repeat(100)))
    try {
      await assert.rejects(
        launchCr('server', { env: { PLUGIN_UNIX_SOCKET_DIR: dir }, startTimeoutMs: 10_000 }),
        /plugin exited before we could connect/,
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('a malformed PLUGIN_PROTOCOL_VERSIONS is logged; the plugin still advertises 1', async () => {
    const p = track(await launchCr('agent', { env: { PLUGIN_PROTOCOL_VERSIONS: 'abc' } }))
    assert.equal(p.handshake.appVersion, 1)
    await waitFor(() =>
      p.logs.some((l) => l.level === 'warn' && /malformed/.test(String(l.fields.detail))),
    )
  })

  test('health: `plugin` and "" are SERVING (go-plugin Ping)', async () => {
    const p = track(await launchCr('agent'))
    assert.equal(await p.health('plugin'), 'SERVING')
    assert.equal(await p.health(''), 'SERVING')
    await rejectsWith(p.health('other'), 'NotFound')
  })

  test('PLUGIN_UNIX_SOCKET_GROUP: the socket gets the group and mode 0660', async () => {
    const gid = process.getgid!()
    const p = track(await launchCr('agent', { env: { PLUGIN_UNIX_SOCKET_GROUP: String(gid) } }))
    const st = statSync(p.handshake.address)
    assert.equal(st.gid, gid)
    assert.equal(st.mode & 0o777, 0o660)
    await assert.rejects(
      launchCr('agent', {
        env: { PLUGIN_UNIX_SOCKET_GROUP: 'no-such-group-xyz' },
        startTimeoutMs: 10_000,
      }),
      /plugin exited before we could connect/,
    )
  })

  test('SIGINT is ignored: the host drives shutdown', async () => {
    const p = track(await loadCrServer())
    p.kill('SIGINT')
    await new Promise((r) => setTimeout(r, 200))
    const res = await p.validate(`secret = "x"`)
    assert.equal(res.valid, true)
  })
})

describe('Init', () => {
  test('returns exactly the attestor and Config services, server and agent', async () => {
    const server = track(await launchCr('server'))
    assert.deepEqual(await server.init(), SERVER_SERVICES)
    const agent = track(await launchCr('agent'))
    assert.deepEqual(await agent.init(), AGENT_SERVICES)
  })

  test('server without AgentStore fails the load with Internal', async () => {
    const p = track(
      await launchCr('server', {
        hostServiceNames: ['spire.hostservice.common.metrics.v1.Metrics'],
      }),
    )
    await rejectsWith(p.init(), 'Internal', /^required AgentStore host service not available$/)
  })

  test('a broker that never sends ConnInfo makes Init fail after 5 s, not hang', async () => {
    const p = track(await launchCr('server', { brokerConnInfo: 'never' }))
    // the refusal names go-plugin's broker timeout: the runtime's own 5 s timer ended the wait
    await rejectsWith(p.init(), 'Internal', /timeout waiting for connection info/)
  })

  test('an agent whose Metrics never arrives still loads', async () => {
    const p = track(await launchCr('agent', { brokerConnInfo: 'never' }))
    assert.deepEqual(await p.init(), AGENT_SERVICES)
  })
})

describe('Configure and Validate', () => {
  test('bad config: InvalidArgument with the first problem; Validate lists every note', async () => {
    const p = track(await launchCr('server'))
    await p.init()
    await rejectsWith(
      p.configure('secret = ['),
      'InvalidArgument',
      /unable to decode configuration/,
    )
    await rejectsWith(p.configure(''), 'InvalidArgument', /^secret is required$/)
    await rejectsWith(
      p.configure('secret = "s"', 'Not A Domain'),
      'InvalidArgument',
      /trust_domain is malformed/,
    )
    const v = await p.validate('secret = ""', '')
    assert.equal(v.valid, false)
    assert.deepEqual(v.notes, [
      'server core configuration must contain trust_domain',
      'secret is required',
    ])
  })

  test('unknown keys are reported as notes and warnings, not errors', async () => {
    const p = track(await launchCr('server'))
    await p.init()
    const v = await p.validate('secret = "s"\nallowed_identity = ["typo"]')
    assert.equal(v.valid, true)
    assert.ok(
      v.notes.some((n) => /unknown configurations detected: allowed_identity/.test(n)),
      v.notes.join('|'),
    )
    await p.configure('secret = "s"\nallowed_identity = ["typo"]')
    await waitFor(() =>
      p.logs.some((l) => l.level === 'warn' && l.message === 'Configuration notes'),
    )
  })

  test('attesting before Configure: FailedPrecondition "not configured"', async () => {
    const p = track(await launchCr('server'))
    await p.init()
    await rejectsWith(serverAttest(p, payloadFor('n1')), 'FailedPrecondition', /^not configured$/)
  })

  test('a failed reconfigure keeps the old config; Validate never changes it', async () => {
    const p = track(await loadCrServer())
    await rejectsWith(p.configure('secret = 1 2'), 'InvalidArgument')
    assert.equal((await p.validate('secret = "other"')).valid, true)
    const attrs = await serverAttest(p, payloadFor('keep-1'), {
      onChallenge: async (c) => challengeResponse(CR_SECRET, c, 'keep-1'),
    })
    assert.equal(attrs.spiffeId, 'spiffe://example.org/spire/agent/cr_test/keep-1')
  })

  test("the attestor's warm runs once, after the first successful Configure, with its config", async () => {
    const p = track(
      await loadCrServer({ hcl: `secret = "${CR_SECRET}"\nallowed_identities = ["a", "b"]` }),
    )
    const warmed = () => p.logs.filter((l) => l.message === 'Attestor warmed')
    await waitFor(() => warmed().length === 1)
    assert.equal(warmed()[0]!.fields['allowed_identities'], 2)
    await p.configure(`secret = "${CR_SECRET}"`)
    const attrs = await serverAttest(p, payloadFor('warm-1'), {
      onChallenge: async (c) => challengeResponse(CR_SECRET, c, 'warm-1'),
    })
    assert.equal(attrs.spiffeId, 'spiffe://example.org/spire/agent/cr_test/warm-1')
    assert.equal(warmed().length, 1)
  })

  test('a Configure racing an Attest: the attestation keeps the config it started with', async () => {
    const p = track(await loadCrServer())
    let reconfigured = false
    const attrs = await serverAttest(p, payloadFor('race-1'), {
      onChallenge: async (c) => {
        await p.configure('secret = "rotated"')
        reconfigured = true
        return challengeResponse(CR_SECRET, c, 'race-1')
      },
    })
    assert.ok(reconfigured)
    assert.equal(attrs.spiffeId, 'spiffe://example.org/spire/agent/cr_test/race-1')
    await rejectsWith(
      serverAttest(p, payloadFor('race-2'), {
        onChallenge: async (c) => challengeResponse(CR_SECRET, c, 'race-2'),
      }),
      'PermissionDenied',
    )
  })
})

describe('attestation streams', () => {
  test('agent and server plugins attest end to end; selectors from the payload; metrics recorded', async () => {
    const server = track(await loadCrServer())
    assert.deepEqual(server.agentStore.calls, [], 'no AgentStore call during Init or Configure')
    const agent = track(await loadCrAgent('node-a'))
    const attrs = await attestAgentToServer(agent, server)
    assert.deepEqual(attrs, {
      spiffeId: 'spiffe://example.org/spire/agent/cr_test/node-a',
      selectorValues: ['identity:node-a', 'rack:r1', 'zone:z2'],
      canReattest: false,
    })
    // AgentStore is only ever called during Attest (SPIRE wires it after the catalog loads)
    assert.deepEqual(server.agentStore.calls, ['spiffe://example.org/spire/agent/cr_test/node-a'])
    await waitFor(() => server.metrics.find('IncrCounter', 'cr_test.attest.success').length === 1)
    await waitFor(() => agent.metrics.find('IncrCounter', 'cr_test.challenge').length === 1)
    assert.deepEqual(server.hostPanics, [])
    assert.deepEqual(agent.hostPanics, [])
    assert.deepEqual(server.extraStdout, [])
    assert.deepEqual(agent.extraStdout, [])
  })

  test('host calls per attestation: one AgentStore lookup; counters summed and samples held per window, none lost', async () => {
    const server = track(await loadCrServer())
    const n = 12
    for (let i = 0; i < n; i++) {
      await attestAgentToServer(track(await loadCrAgent(`batch-${i}`)), server)
    }
    const sum = (key: string): number =>
      server.metrics
        .find('IncrCounter', key)
        .filter((c) => key !== 'cr_test.attest' || c.labels.result === 'ok')
        .reduce((total, c) => total + Number(c.value), 0)
    // fewer than SAMPLES_PER_WINDOW attestations: every sample reaches the host, at the window's end
    await server.metrics.until(
      () =>
        sum('cr_test.attest') === n &&
        sum('cr_test.attest.success') === n &&
        server.metrics.find('AddSample', 'cr_test.attest.elapsed_ms').length === n,
    )
    assert.equal(server.agentStore.calls.length, n)
    const others = server.metrics.calls.filter(
      (c) => c.rpc !== 'IncrCounter' && c.key.join('.') !== 'cr_test.attest.elapsed_ms',
    )
    assert.deepEqual(others, [], 'no other metric call on the attestation path')
  })

  test('stray console.log and stdout writes never reach stdout; they become log lines', async () => {
    const server = track(await loadCrServer())
    const agent = track(
      await loadCrAgent('noisy-1', {
        hcl: `secret = "${CR_SECRET}"\nidentity = "noisy-1"\nnoisy = true`,
      }),
    )
    await attestAgentToServer(agent, server)
    await waitFor(() =>
      agent.logs.some((l) => l.message === 'stray console.log' && l.level === 'info'),
    )
    await waitFor(() => agent.logs.some((l) => l.message === 'Discarded stdout output'))
    assert.deepEqual(agent.extraStdout, [])
  })

  test('TOFU: an agent ID SPIRE already knows is refused with PermissionDenied', async () => {
    const server = track(await loadCrServer())
    server.agentStore.add('spiffe://example.org/spire/agent/cr_test/node-b')
    const agent = track(await loadCrAgent('node-b'))
    await rejectsWith(
      attestAgentToServer(agent, server),
      'PermissionDenied',
      /^attestation data has already been used to attest an agent$/,
    )
    await waitFor(() =>
      server.logs.some(
        (l) =>
          l.level === 'error' &&
          l.fields.spiffe_id === 'spiffe://example.org/spire/agent/cr_test/node-b',
      ),
    )
  })

  test('TOFU fails closed when AgentStore errors, keeping the host code', async () => {
    const server = track(await loadCrServer())
    server.agentStore.failWith = { code: GrpcStatus.UNAVAILABLE, details: 'datastore down' }
    const agent = track(await loadCrAgent('node-c'))
    await rejectsWith(
      attestAgentToServer(agent, server),
      'Unavailable',
      /^unable to get agent info: datastore down$/,
    )
  })

  test('messages above grpc-js default 4 MiB limit are received (limits set explicitly)', async () => {
    const server = track(await loadCrServer())
    const big = Buffer.alloc(5 * 1024 * 1024, 0x61)
    // reaching the attestor's JSON parser proves the 5 MiB message was accepted by the transport
    await rejectsWith(serverAttest(server, big), 'InvalidArgument', /failed to unmarshal/)
  })

  test('bad payloads and bad answers get InvalidArgument / PermissionDenied and the plugin keeps serving', async () => {
    const server = track(await loadCrServer())
    await rejectsWith(
      serverAttest(server, Buffer.from('{not json')),
      'InvalidArgument',
      /failed to unmarshal/,
    )
    await rejectsWith(
      serverAttest(server, Buffer.from('{"identity":"../x","selectors":[]}')),
      'InvalidArgument',
    )
    await rejectsWith(
      serverAttest(server, payloadFor('node-d'), { onChallenge: async () => Buffer.from('wrong') }),
      'PermissionDenied',
      /challenge response does not match/,
    )
    const attrs = await serverAttest(server, payloadFor('node-d'), {
      onChallenge: async (c) => challengeResponse(CR_SECRET, c, 'node-d'),
    })
    assert.equal(attrs.spiffeId, 'spiffe://example.org/spire/agent/cr_test/node-d')
  })

  test('the host cancelling mid-challenge does not hurt the plugin', async () => {
    const server = track(await loadCrServer())
    const stream = server.openAttestStream<object, { challenge?: Buffer }>()
    stream.on('error', () => {})
    stream.write({ payload: payloadFor('node-e') })
    await new Promise<void>((resolve) => stream.once('data', () => resolve()))
    stream.cancel()
    const attrs = await serverAttest(server, payloadFor('node-e'), {
      onChallenge: async (c) => challengeResponse(CR_SECRET, c, 'node-e'),
    })
    assert.equal(attrs.spiffeId, 'spiffe://example.org/spire/agent/cr_test/node-e')
  })

  test('concurrent attestations are independent', async () => {
    const server = track(await loadCrServer())
    const ids = Array.from({ length: 20 }, (_, i) => `par-${i}`)
    const results = await Promise.all(
      ids.map((id) =>
        serverAttest(server, payloadFor(id), {
          onChallenge: async (c) => challengeResponse(CR_SECRET, c, id),
        }),
      ),
    )
    assert.deepEqual(
      results.map((r) => r.spiffeId),
      ids.map((id) => `spiffe://example.org/spire/agent/cr_test/${id}`),
    )
  })

  test('a long run of attestations leaves no listener behind (no leak warning past 1,000)', async () => {
    const server = track(await loadCrServer())
    for (let i = 0; i < 1_050; i++) {
      await serverAttest(server, payloadFor(`leak-${i}`), {
        onChallenge: async (c) => challengeResponse(CR_SECRET, c, `leak-${i}`),
      })
    }
    assert.deepEqual(
      server.logs.filter((l) => /MaxListeners|memory leak/i.test(l.raw)).map((l) => l.raw),
      [],
    )
  })

  test('the agent writes its payload unprompted and answers each challenge', async () => {
    const agent = track(await loadCrAgent('node-f'))
    const { session, payload } = await AgentSession.open(agent)
    assert.deepEqual(JSON.parse(Buffer.from(payload).toString()), {
      identity: 'node-f',
      selectors: ['rack:r1', 'zone:z2'],
    })
    const c1 = Buffer.alloc(32, 1)
    assert.deepEqual(
      Buffer.from(await session.respond(c1)),
      challengeResponse(CR_SECRET, c1, 'node-f'),
    )
    const c2 = Buffer.alloc(32, 2)
    assert.deepEqual(
      Buffer.from(await session.respond(c2)),
      challengeResponse(CR_SECRET, c2, 'node-f'),
    )
    session.close()
  })

  test('log lines carry their levels and never panic the host', async () => {
    const server = track(await loadCrServer())
    const agent = track(await loadCrAgent('node-g'))
    await attestAgentToServer(agent, server)
    await waitFor(() =>
      server.logs.some((l) => l.level === 'info' && l.message === 'Agent attested'),
    )
    await waitFor(() =>
      agent.logs.some((l) => l.level === 'info' && l.message === 'Sending attestation payload'),
    )
    for (const l of [...server.logs, ...agent.logs]) {
      if (l.fields.source === 'host') continue
      assert.equal(l.hostPanic, undefined)
      assert.ok(l.timestamp, `unparsed line: ${l.raw}`)
      assert.equal(l.fields['@module'], 'cr_test')
    }
  })
})

describe('shutdown', () => {
  test('Shutdown exits promptly with code 0, without SIGKILL', async () => {
    for (const side of ['server', 'agent'] as const) {
      const p = side === 'server' ? await loadCrServer() : await loadCrAgent('bye')
      const res = await p.close({ exitGraceMs: TEST_EXIT_GRACE_MS })
      assert.equal(res.graceful, true, side)
      assert.equal(res.signal, null, side)
      assert.equal(res.code, 0, side)
      assert.ok(res.elapsedMs < 2_000, `${side} took ${res.elapsedMs} ms`)
      assert.equal(
        p.logs.find((l) => /deinitialize|failed to exit/.test(l.message)),
        undefined,
        side,
      )
    }
  })

  test('a host that dies without Shutdown: the orphaned plugin exits on its own', async () => {
    const script = `
      import { PluginProcess } from ${JSON.stringify(new URL('../../../shared/host/index.js', import.meta.url).href)}
      const p = await PluginProcess.load({ command: ${JSON.stringify(CR_SERVER_MAIN)}, name: 'cr_test', side: 'server', hcl: 'secret = "s"' })
      process.stdout.write(String(p.pid) + '\\n')
      setInterval(() => {}, 1000)
    `
    const host = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const pid = await new Promise<number>((resolve) =>
      host.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
    )
    assert.ok(isAlive(pid))
    host.kill('SIGKILL')
    await waitFor(() => !isAlive(pid))
  })
})

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Polls until `cond` holds; the deadline is a hang guard with a clear message, not a speed check. */
async function waitFor(cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}
