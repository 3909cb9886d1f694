// Issue 14 item 4, chaos during a fleet boot (bench/chaos.ts): its pure parts (the fleet split and
// the expected selectors, the retry policy and outcome classes, the check of SPIRE's records, the
// fault schedule with an injected clock) and a 200-VM boot through real spire-server serving
// azure_msi and azure_imds while the emulator injects Entra ID and ARM faults and the server is
// restarted once: every agent issued (at once or after retries) or TOFU-refused after a result it
// never received, nothing attested wrongly, the plugins' fds, handles and timers back near their
// start. The 2,000-VM run is `npm run bench -- chaos --vms 2000` (bench/results/chaos-*.json).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fleetSpec } from '../../bench/agent-load-fleet.js'
import { parseAgentList } from '../../bench/agent-load-server.js'
import { chaosFleet, expectedAgentId, expectedSelectors } from '../../bench/chaos-fleet.js'
import {
  agentOutcome,
  ALREADY_ATTESTED,
  checkRecorded,
  classifyError,
  CODE,
  shouldRetry,
  type AttemptResult,
} from '../../bench/chaos-outcome.js'
import { countFds, PROBE_SOURCE } from '../../bench/chaos-probe.js'
import { DEFAULT_SCHEDULE, runSchedule, type ChaosStep } from '../../bench/chaos-schedule.js'
import { backoff, errorKey, runChaos, type ChaosResult } from '../../bench/chaos.js'
import { HTTP_MAX_SOCKETS_PER_HOST, HTTP_MAX_SOCKETS_PER_POOL } from '../../shared/azure/http.js'
import { startEmulator, World } from '../azure-emulator/index.js'
import { fetchRaw } from '../azure-emulator/test-helpers.js'
import { REPO_ROOT } from '../support/paths.js'
import { seeded } from '../support/seeded.js'
import { ensureSpire, SPIRE_VERSION } from '../support/spire.js'

describe('chaos: the fleet', () => {
  test('splits N VMs between the attestors with no VM shared; azure_msi gets no Uniform members', () => {
    const f = chaosFleet(200)
    assert.deepEqual(f.attestors.azure_msi.counts, { standalone: 10, flexible: 90, uniform: 0 })
    assert.deepEqual(f.attestors.azure_imds.counts, { standalone: 10, flexible: 45, uniform: 45 })
    assert.deepEqual(f.world, { standalone: 20, flexible: 135, uniform: 45 })
    const msi = f.attestors.azure_msi.order
    const imds = f.attestors.azure_imds.order
    assert.equal(new Set([...msi, ...imds]).size, 200, 'each VM runs one agent')
    const world = new World(fleetSpec(f.world))
    for (const key of [...msi, ...imds]) assert.equal(world.vm(key).key, key)
    assert.ok(imds.includes('fleet/vm-10') && imds.includes('fleet/flex/90'))
    assert.equal(chaosFleet(7).attestors.azure_msi.order.length, 4)
  })

  test('expected selectors follow the documented tables, per attestor and kind', () => {
    const f = chaosFleet(20)
    const world = new World(fleetSpec(f.world))
    const flex = world.vm('fleet/flex/0')
    const sub = flex.resourceGroup.subscription
    const tid = sub.tenant.tenantId.toLowerCase()
    assert.deepEqual(expectedSelectors('azure_msi', flex), [
      `azure_msi:principal-id:${flex.identity.system!.principalId}`,
      'azure_msi:resource-group:fleet',
      `azure_msi:subscription-id:${sub.subscriptionId}`,
      `azure_msi:tenant-id:${tid}`,
      'azure_msi:virtual-network-subnet:fleet:vnet:flex',
      'azure_msi:virtual-network:fleet:vnet',
      'azure_msi:vm-location:eastus',
      `azure_msi:vm-name:fleet:${flex.name}`,
      'azure_msi:vmss-name:flex',
    ])
    const uni = world.vm('fleet/uni/3')
    assert.deepEqual(expectedSelectors('azure_imds', uni), [
      'azure_imds:resource-group:fleet',
      `azure_imds:subscription-id:${sub.subscriptionId}`,
      `azure_imds:tenant-id:${tid}`,
      'azure_imds:virtual-network-subnet:vnet:uni',
      'azure_imds:virtual-network:vnet',
      `azure_imds:vm-id:${uni.vmId}`,
      'azure_imds:vm-location:eastus',
      'azure_imds:vm-name:uni_3',
      'azure_imds:vmss-name:uni',
    ])
    const vm = world.vm('fleet/vm-1')
    assert.ok(!expectedSelectors('azure_imds', vm).some((s) => s.includes('vmss-name')))
    assert.equal(
      expectedAgentId('azure_imds', vm, 'example.org'),
      `spiffe://example.org/spire/agent/azure_imds/${sub.tenant.tenantId}/${sub.subscriptionId}/${vm.vmId}`,
    )
    assert.throws(() => expectedSelectors('azure_msi', uni), /no Uniform instances/)
  })
})

describe('chaos: retries and outcomes', () => {
  const err = (code: number | undefined, message = 'x'): AttemptResult =>
    code === undefined ? { kind: 'error', message } : { kind: 'error', code, message }
  const tofu = err(CODE.PermissionDenied, `nodeattestor(azure_msi): ${ALREADY_ATTESTED}`)

  test('transport failures and Unavailable/Internal are retried; refusals are final', () => {
    assert.equal(classifyError(undefined, 'connect ECONNREFUSED'), 'retriable')
    assert.equal(classifyError(CODE.Unavailable, 'x'), 'retriable')
    assert.equal(classifyError(CODE.Internal, 'unable to obtain JWKS'), 'retriable')
    assert.equal(classifyError(CODE.PermissionDenied, ALREADY_ATTESTED), 'already-attested')
    assert.equal(classifyError(CODE.PermissionDenied, 'tenant is not authorized'), 'refused')
    assert.equal(classifyError(3, 'InvalidArgument'), 'refused')
    assert.equal(shouldRetry({ kind: 'dropped' }), true)
    assert.equal(shouldRetry(tofu), false)
    assert.equal(shouldRetry({ kind: 'issued' }), false)
  })

  test('classes: first try, after retries, TOFU after a lost result or a fault, wrong, failed', () => {
    const issued: AttemptResult = { kind: 'issued' }
    assert.equal(agentOutcome([issued]).outcome, 'first-try')
    assert.equal(
      agentOutcome([err(CODE.Unavailable), err(undefined), issued]).outcome,
      'after-retry',
    )
    assert.equal(agentOutcome([{ kind: 'dropped' }, tofu]).outcome, 'tofu-after-lost-result')
    assert.equal(agentOutcome([err(CODE.Internal), tofu]).outcome, 'tofu-after-fault')
    assert.equal(agentOutcome([tofu]).outcome, 'failed', 'refused with nothing that SPIRE recorded')
    assert.equal(agentOutcome([{ kind: 'wrong-svid', message: 'agent ID' }]).outcome, 'wrong')
    assert.match(
      agentOutcome([{ kind: 'dropped' }, issued]).reason ?? '',
      /issued twice/,
      'a second SVID for one agent breaks TOFU',
    )
    assert.equal(agentOutcome([err(CODE.PermissionDenied, 'no')]).outcome, 'failed')
    assert.match(agentOutcome([err(CODE.Unavailable)]).reason ?? '', /retries spent/)
  })

  test('SPIRE must hold each issued or TOFU-refused agent with exactly its selectors, and no other', () => {
    const agents = [
      { expectedId: 'a', expectedSelectors: ['t:1', 't:2'], outcome: 'first-try' as const },
      { expectedId: 'b', expectedSelectors: ['t:3'], outcome: 'tofu-after-lost-result' as const },
      { expectedId: 'c', expectedSelectors: ['t:4'], outcome: 'after-retry' as const },
      { expectedId: 'd', expectedSelectors: ['t:5'], outcome: 'failed' as const },
      { expectedId: 'e', expectedSelectors: ['t:6'], outcome: 'after-retry' as const },
    ]
    const r = checkRecorded(agents, [
      { id: 'a', selectors: ['t:2', 't:1'] },
      { id: 'b', selectors: ['t:3'] },
      { id: 'c', selectors: ['t:4', 't:extra'] },
      { id: 'd', selectors: ['t:5'] },
      { id: 'z', selectors: [] },
    ])
    assert.deepEqual(r.unexpectedIds, ['z'])
    assert.deepEqual(r.selectorMismatches, [
      { id: 'c', expected: ['t:4'], got: ['t:4', 't:extra'] },
    ])
    assert.deepEqual(r.missing, ['e'])
    assert.deepEqual(r.recordedButFailed, ['d'])
  })

  test('backoff is exponential with jitter, capped, and repeatable from the seed', () => {
    const b = { base: 100, cap: 1000 }
    const r1 = seeded(7)
    const r2 = seeded(7)
    const xs = [1, 2, 3, 4, 5, 6].map((n) => backoff(n, b, r1))
    assert.deepEqual(
      xs,
      [1, 2, 3, 4, 5, 6].map((n) => backoff(n, b, r2)),
    )
    xs.forEach((x, i) => {
      const full = Math.min(1000, 100 * 2 ** i)
      assert.ok(x >= full / 2 && x <= full, `${x} within [${full / 2}, ${full}]`)
    })
  })

  test('parses `spire-server agent list -output json`', () => {
    const json = JSON.stringify({
      agents: [
        {
          id: { trust_domain: 'example.org', path: '/spire/agent/azure_msi/t/p' },
          attestation_type: 'azure_msi',
          selectors: [{ type: 'azure_msi', value: 'tenant-id:t' }],
        },
      ],
    })
    assert.deepEqual(parseAgentList(json), [
      {
        id: 'spiffe://example.org/spire/agent/azure_msi/t/p',
        attestationType: 'azure_msi',
        selectors: ['azure_msi:tenant-id:t'],
      },
    ])
    assert.deepEqual(parseAgentList('{}'), [])
  })
})

describe('chaos: the fault schedule', () => {
  test('windows open and close in order at fractions of the ramp; one restart with its faults', async () => {
    let t = 0
    const events: string[] = []
    const records = await runSchedule(DEFAULT_SCHEDULE, {
      rampMs: 100_000,
      now: () => t,
      sleep: async (ms) => {
        t += ms
      },
      arm: (p, f) => events.push(`${Math.round(t)} arm ${p} ${f.kind}`),
      clear: (p) => events.push(`${Math.round(t)} clear ${p}`),
      restart: async () => {
        events.push(`${Math.round(t)} restart`)
        t += 700
      },
    })
    assert.equal(records.length, DEFAULT_SCHEDULE.length)
    assert.equal(events.filter((e) => e.endsWith('restart')).length, 1)
    const armed = new Set<string>()
    for (const e of events) {
      const [, verb, pattern] = e.split(' ')
      if (verb === 'arm') {
        assert.ok(!armed.has(pattern!), `${pattern} armed twice at once`)
        armed.add(pattern!)
      } else if (verb === 'clear') armed.delete(pattern!)
    }
    assert.equal(armed.size, 0, 'every window closed')
    assert.equal(events[0], '0 arm entra.* status')
    const restart = records.find((r) => r.kind === 'restart')!
    assert.equal(restart.startMs, 45_000)
    assert.equal(restart.restartMs, 700)
    assert.equal(restart.endMs, 45_000 + 700 + 6_000)
    const kinds = new Set(DEFAULT_SCHEDULE.flatMap((s) => s.arms.map((a) => a.fault.kind)))
    assert.deepEqual([...kinds].sort(), ['latency', 'reset', 'status', 'throttle'])
  })

  test('a window lasts at least its minMs; steps after the boot is over are skipped', async () => {
    let t = 0
    let over = false
    const steps: ChaosStep[] = [
      { kind: 'faults', name: 'a', at: 0, for: 0.01, minMs: 5_000, arms: [] },
      { kind: 'faults', name: 'b', at: 0.1, for: 0.01, arms: [] },
      { kind: 'faults', name: 'c', at: 0.9, for: 0.01, arms: [] },
    ]
    const records = await runSchedule(steps, {
      rampMs: 10_000,
      now: () => t,
      sleep: async (ms) => {
        t += ms
        if (t >= 8_000) over = true
      },
      arm: () => {},
      clear: () => {},
      restart: async () => {},
      stopped: () => over,
    })
    assert.deepEqual(
      records.map((r) => [r.name, r.startMs, r.endMs]),
      [
        ['a', 0, 5_000],
        ['b', 5_000, 5_100],
      ],
    )
  })

  test('error keys mask times and ports', () => {
    assert.equal(
      errorKey('Timestamp: 2026-12-02 05:26:31.123Z at 127.0.0.1:38711 "fleet:flex_4c775501"'),
      'Timestamp: <time> at 127.0.0.1:<port> "fleet:flex_<id>"',
    )
  })

  test('a failed restart is recorded and ends the schedule, its faults cleared', async () => {
    const steps: ChaosStep[] = [
      {
        kind: 'restart',
        name: 'r',
        at: 0,
        for: 0,
        arms: [{ pattern: 'entra.*', fault: { kind: 'reset' } }],
      },
      { kind: 'faults', name: 'later', at: 0.5, for: 0.1, arms: [] },
    ]
    const cleared: string[] = []
    const records = await runSchedule(steps, {
      rampMs: 1000,
      now: () => 0,
      sleep: async () => {},
      arm: () => {},
      clear: (p) => cleared.push(p),
      restart: async () => {
        throw new Error('spire-server did not come back')
      },
    })
    assert.equal(records.length, 1)
    assert.equal(records[0]!.error, 'spire-server did not come back')
    assert.deepEqual(cleared, ['entra.*'])
  })

  test('the reset fault resets TLS connections too (Entra ID, ARM), not a 500', async () => {
    const emu = await startEmulator()
    try {
      const url = `${emu.entra.jwksUri()}`
      emu.faults.set('entra.*', { kind: 'reset' }, { times: 1 })
      await assert.rejects(
        fetchRaw(url, { ca: emu.endpoints.caCertPem }),
        (err: NodeJS.ErrnoException) =>
          err.code === 'ECONNRESET' || /socket hang up/.test(err.message),
      )
      assert.equal((await fetchRaw(url, { ca: emu.endpoints.caCertPem })).status, 200)
      assert.deepEqual(emu.errors, [])
    } finally {
      await emu.stop()
    }
  })

  test('the probe is plain CommonJS that only writes files', () => {
    assert.doesNotMatch(PROBE_SOURCE, /console\.|process\.stdout|process\.stderr/)
    assert.match(PROBE_SOURCE, /getActiveResourcesInfo/)
    assert.ok((countFds(process.pid) ?? 0) > 0)
    assert.equal(countFds(2 ** 22 + 1), undefined)
  })
})

const installed = ensureSpire()
const skip = 'skip' in installed ? installed.skip : false
const serverBin = 'skip' in installed ? '' : installed.server

/**
 * Bounds for a plugin process, against the idle figures of the same executable before the boot:
 * open fds during the boot within the https pool (HTTP_MAX_SOCKETS_PER_POOL, Entra ID and ARM
 * together) plus the plain-http pool for AIA (HTTP_MAX_SOCKETS_PER_HOST) plus 16 for the rest
 * (host-service connections, files); after the boot, kept-alive connections not yet past their
 * idle timeout may stay open, at most HTTP_MAX_SOCKETS_PER_HOST each to Entra ID and ARM.
 */
const FD_BOUND_DURING = HTTP_MAX_SOCKETS_PER_POOL + HTTP_MAX_SOCKETS_PER_HOST + 16
const FD_BOUND_AFTER = 2 * HTTP_MAX_SOCKETS_PER_HOST
/** The load generator's 20,000-attestation runs peak at ~270 MB (bench/results/agent-load-*). */
const RSS_BOUND_MB = 300

function assertBounded(r: ChaosResult): void {
  const idle = new Map(r.plugins.filter((p) => p.lifetime === 1).map((p) => [p.name, p] as const))
  assert.equal(idle.size, 2, 'both plugins ran before the restart')
  const after = r.plugins.filter((p) => p.lifetime === 2)
  assert.equal(after.length, 2, 'both plugins ran after the restart, once each')
  for (const p of r.plugins) {
    const base = idle.get(p.name)!
    assert.equal(p.alive, p.lifetime === 2, `${p.name} (${p.lifetime}): only the current ones run`)
    assert.ok(p.rssMb.max <= RSS_BOUND_MB, `${p.name} RSS ${p.rssMb.max} MB`)
    assert.ok(p.fds.max <= base.fds.first + FD_BOUND_DURING, `${p.name} fds ${p.fds.max}`)
    assert.ok(p.handles !== undefined && p.timers !== undefined, 'the probe loaded')
  }
  for (const p of after) {
    const base = idle.get(p.name)!
    assert.ok(
      p.fds.last <= base.fds.first + FD_BOUND_AFTER,
      `${p.name}: ${p.fds.last} fds after the boot, ${base.fds.first} idle before`,
    )
    // ref'd handles: the host pipes, plus at most one kept-alive socket per pooled connection
    assert.ok(p.handles!.last <= base.handles!.first + FD_BOUND_AFTER, `${p.name} handles`)
    assert.ok(p.timers!.last <= base.timers!.first + 2, `${p.name}: ${p.timers!.last} timers`)
  }
}

describe(
  `chaos fleet boot through real SPIRE v${SPIRE_VERSION}`,
  { skip, timeout: 240_000 },
  () => {
    test('200 VMs, both attestors, Entra and ARM faults and a restart: right or retried or TOFU, never wrong', async () => {
      const r = await runChaos({ vms: 200, serverBin, settleMs: 3_000 })
      assert.equal(r.vms, 200)
      assert.deepEqual(r.failures, {})
      assert.equal(r.outcomes.failed, 0)
      assert.equal(r.outcomes.wrong, 0)
      assert.equal(r.wrongAttestations, 0, 'nothing attested with a wrong ID or selectors')
      assert.deepEqual(r.recorded.unexpectedIds, [])
      assert.deepEqual(r.recorded.selectorMismatches, [])
      assert.deepEqual(r.recorded.missing, [])
      const { outcomes: o } = r
      assert.equal(
        o['first-try'] + o['after-retry'] + o['tofu-after-lost-result'] + o['tofu-after-fault'],
        200,
      )
      assert.equal(o['tofu-after-lost-result'], 5, 'every 39th agent lost its first result')
      assert.equal(r.outcomesByAttestor.azure_msi['tofu-after-lost-result'], 3)
      assert.equal(r.outcomesByAttestor.azure_imds['tofu-after-lost-result'], 2)
      assert.ok(o['after-retry'] > 0, 'the faults made agents retry')
      assert.equal(r.recorded.agents, 200, 'SPIRE holds every agent once')
      for (const attestor of ['azure_msi', 'azure_imds'] as const) {
        const c = r.outcomesByAttestor[attestor]
        assert.equal(
          c['first-try'] + c['after-retry'] + c['tofu-after-lost-result'] + c['tofu-after-fault'],
          100,
        )
      }
      assert.ok(Object.keys(r.outcomesByKind).length === 5, 'five attestor × kind groups')
      const restart = r.steps.find((s) => s.kind === 'restart')
      assert.ok(restart !== undefined && restart.error === undefined, 'spire-server came back')
      assert.equal(r.steps.length, DEFAULT_SCHEDULE.length)
      assert.equal(r.emulator.handlerErrors, 0)
      assert.ok(
        Object.keys(r.retriedErrors).some((k) => /ECONNREFUSED|stream|Unavailable|closed/.test(k)),
        'some agents met the restart',
      )
      assertBounded(r)
    })

    test('npm run bench -- chaos writes the JSON report', () => {
      const dir = mkdtempSync(join(tmpdir(), 'chaos-cli-'))
      try {
        const out = join(dir, 'chaos.json')
        const args = ['--vms', '6', '--ramp-s', '3', '--settle-s', '1', '--drop-every', '3']
        const res = spawnSync(
          'npm',
          ['run', '--silent', 'bench', '--', 'chaos', ...args, '--out', out],
          {
            cwd: REPO_ROOT,
            encoding: 'utf8',
            timeout: 120_000,
          },
        )
        assert.equal(res.status, 0, res.stderr)
        const { runs } = JSON.parse(readFileSync(out, 'utf8')) as {
          runs: { command: string; result: ChaosResult }[]
        }
        assert.equal(runs.length, 1)
        const json = runs[0]!
        assert.match(json.command, /^npm run bench -- chaos --vms 6/)
        assert.equal(json.result.vms, 6)
        assert.equal(json.result.wrongAttestations, 0)
        assert.equal(json.result.outcomes['tofu-after-lost-result'], 2)
        assert.match(res.stdout, /\| \*\*all 6\*\* \|/)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  },
)
