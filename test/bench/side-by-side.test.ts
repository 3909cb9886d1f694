// The side-by-side benches' pure parts (issue 12 item 7): the SVG line chart (bench/svg-chart.ts),
// the fleet boot's timeline, table and chart (bench/fleet-boot-report.ts), the launcher bench's
// open loop and table (bench/side-by-side.ts, bench/side-by-side-report.ts), the box's hosts file
// and upstream's built-in server config (bench/agent-load-server.ts). No SPIRE, Go or namespace.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { fleetSpec } from '../../bench/agent-load-fleet.js'
import { loadServerConf } from '../../bench/agent-load-server.js'
import {
  fleetChart,
  fleetTable,
  serverRequests,
  timeline,
  type FleetBootSide,
} from '../../bench/fleet-boot-report.js'
import { hostsFile } from '../../bench/side-by-side-box.js'
import { sideBySideTable, type CellResult } from '../../bench/side-by-side-report.js'
import { openLoop } from '../../bench/side-by-side.js'
import { escapeXml, lineChartSvg, niceTicks } from '../../bench/svg-chart.js'
import { World, type Emulator } from '../azure-emulator/index.js'

const attrs = (svg: string, tag: string): Record<string, string>[] =>
  [...svg.matchAll(new RegExp(`<${tag}\\b([^>]*)/?>`, 'g'))].map((m) =>
    Object.fromEntries([...m[1]!.matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!])),
  )

describe('svg-chart', () => {
  test('niceTicks: round steps from 0 up to at least the maximum', () => {
    assert.deepEqual(niceTicks(100), [0, 20, 40, 60, 80, 100])
    assert.deepEqual(niceTicks(7), [0, 2, 4, 6, 8])
    assert.deepEqual(niceTicks(1000, 4), [0, 250, 500, 750, 1000])
    assert.deepEqual(niceTicks(0.3), [0, 0.1, 0.2, 0.3])
    assert.deepEqual(niceTicks(0), [0, 1])
    assert.deepEqual(niceTicks(Number.NaN), [0, 1])
  })

  test('escapeXml escapes markup in labels', () => {
    assert.equal(escapeXml(`a<b>&"c"`), 'a&lt;b&gt;&amp;&quot;c&quot;')
  })

  test('two series: axes, ticks, one polyline each mapped onto the plot, a legend entry each', () => {
    // a fresh input object each call, so the determinism check below cannot share state
    const input = (): Parameters<typeof lineChartSvg>[0] => ({
      title: 'Boot <200>',
      xLabel: 'seconds',
      yLabel: 'agents',
      width: 600,
      height: 300,
      series: [
        {
          name: 'ours',
          points: [
            [0, 0],
            [10, 200],
          ],
        },
        {
          name: 'upstream',
          points: [
            [0, 0],
            [20, 100],
            [40, 200],
          ],
          dashed: true,
        },
      ],
    })
    const svg = lineChartSvg(input())
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="600" height="300"'))
    assert.ok(svg.trimEnd().endsWith('</svg>'))
    assert.ok(svg.includes('Boot &lt;200&gt;'))
    const lines = attrs(svg, 'polyline')
    assert.deepEqual(
      lines.map((l) => l['data-name']),
      ['ours', 'upstream'],
    )
    // plot: left 70, right 600-20=580, top 40, bottom 300-55=245; x ticks 0…40, y ticks 0…200
    assert.equal(lines[0]!.points, '70.0,245.0 197.5,40.0')
    assert.equal(lines[1]!.points, '70.0,245.0 325.0,142.5 580.0,40.0')
    assert.equal(lines[0]!['stroke-dasharray'], undefined)
    assert.equal(lines[1]!['stroke-dasharray'], '6 4')
    const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1])
    for (const t of ['0', '10', '20', '30', '40', '50', '100', '150', '200', 'ours', 'upstream'])
      assert.ok(texts.includes(t), `tick or legend ${t}`)
    assert.ok(texts.includes('seconds') && texts.includes('agents'))
    // the same input, the same bytes
    assert.equal(svg, lineChartSvg(input()))
  })
})

const side = (over: Partial<FleetBootSide>): FleetBootSide => ({
  side: 'ours',
  plugins: 'p',
  vms: 200,
  attested: 200,
  notAttested: 0,
  failedAttempts: 0,
  failures: {},
  wallS: 10,
  azureRequestsPerAttestation: { arm: 0.5, entra: 0.01, imds: 1 },
  timeline: [
    [0, 0],
    [10, 200],
  ],
  ...over,
})

describe('fleet-boot report', () => {
  test('timeline: cumulative agents at the end of each bin, the last bin cut at the end', () => {
    assert.deepEqual(timeline([0.5, 0.7, 1.2, 2.9, 3.1], 3.1), [
      [0, 0],
      [1, 2],
      [2, 3],
      [3, 4],
      [3.1, 5],
    ])
    assert.deepEqual(timeline([4, 1], 5, 2), [
      [0, 0],
      [2, 1],
      [4, 2],
      [5, 2],
    ])
    assert.deepEqual(timeline([], 0), [
      [0, 0],
      [0, 0],
    ])
  })

  test('server-side requests leave the agents’ IMDS calls out', () => {
    assert.equal(serverRequests({ arm: 3, entra: 0.5, imds: 2, issuers: 0.5 }), 4)
  })

  test('table: a row per side and the upstream ÷ ours ratios', () => {
    const t = fleetTable([
      side({}),
      side({
        side: 'upstream',
        wallS: 40,
        attested: 150,
        notAttested: 50,
        failedAttempts: 300,
        azureRequestsPerAttestation: { arm: 4, entra: 1.1, imds: 1 },
      }),
    ])
    const rows = t.split('\n')
    assert.equal(
      rows[2],
      '| ours (p) | 200 | 200 | 0 | 0 | 10.0 s | 20.0 | 0.51 (arm 0.50, entra 0.01, imds 1.00) |',
    )
    assert.equal(
      rows[3],
      '| upstream (p) | 200 | 150 | 50 | 300 | 40.0 s | 3.8 | 5.10 (arm 4.00, entra 1.10, imds 1.00) |',
    )
    assert.ok(
      t.endsWith('Ratio upstream ÷ ours: wall time 4.00×, Azure requests per attestation 10.00×.'),
    )
    assert.ok(!fleetTable([side({})]).includes('Ratio'))
  })

  test('chart: ours solid, upstream dashed, titled', () => {
    const svg = fleetChart([side({}), side({ side: 'upstream' })], 'Fleet boot of 200 VMs')
    const lines = attrs(svg, 'polyline')
    assert.deepEqual(
      lines.map((l) => [l['data-name'], l['stroke-dasharray']]),
      [
        ['ours (spire-azure-attestor)', undefined],
        ['upstream (SPIRE built-in)', '6 4'],
      ],
    )
    assert.ok(svg.includes('Fleet boot of 200 VMs'))
  })
})

describe('side-by-side launcher bench', () => {
  test('open loop: starts attempt i at i/rate even while earlier ones run; latency from the schedule', async () => {
    // a fake clock whose sleep fires the attempts' own timers on the way
    let t = 0
    const timers: { at: number; fire: () => void }[] = []
    const flush = async (): Promise<void> => {
      for (let k = 0; k < 10; k++) await Promise.resolve()
    }
    const sleep = async (ms: number): Promise<void> => {
      await flush() // what has finished by now is seen at now
      const target = t + ms
      timers.sort((a, b) => a.at - b.at)
      while (timers.length > 0 && timers[0]!.at <= target) {
        const x = timers.shift()!
        t = x.at
        x.fire()
        await flush()
      }
      t = target
    }
    const started: number[] = []
    const r = await openLoop({
      attempts: 4,
      ratePerS: 100, // every 10 ms
      now: () => t,
      sleep,
      attempt: async (i) => {
        started.push(t)
        if (i === 2) throw new Error('refused')
        // attempt 0 takes 25 ms; the others answer at once
        if (i === 0) await new Promise<void>((fire) => timers.push({ at: t + 25, fire }))
      },
    })
    assert.deepEqual(started, [0, 10, 20, 30])
    assert.equal(r.ok, 3)
    assert.equal(r.failed, 1)
    assert.equal(r.firstFailure, 'refused')
    // completion order: attempt 1 (0 ms), attempt 0 (25 ms after its slot), attempt 3 (0 ms)
    assert.deepEqual(r.latenciesMs, [0, 25, 0])
    assert.equal(r.wallMs, 30)
  })

  const loop = (mode: string, perS: number, p99: number, cpu: number) => ({
    mode,
    ok: 100,
    failed: 0,
    attestationsPerS: perS,
    latencyMs: { p50: 1, p90: 2, p99, max: p99, mean: 1 },
    serverCpuMsPerAttestation: cpu,
    azureRequestsPerAttestation: 0,
    serverRssMb: 50,
  })

  test('table: a row per cell and loop, ratios where both sides ran', () => {
    const cells: CellResult[] = [
      { cell: 'null', firstAttestationMs: 100, loops: [loop('closed 16 streams', 1000, 20, 0.5)] },
      { cell: 'ours-msi', firstAttestationMs: 300, loops: [loop('closed 16 streams', 600, 30, 1)] },
      {
        cell: 'upstream-msi',
        firstAttestationMs: 200,
        loops: [loop('closed 16 streams', 300, 90, 2)],
      },
    ]
    const t = sideBySideTable(cells)
    const rows = t.split('\n')
    assert.equal(rows.filter((r) => r.startsWith('| ')).length, 4)
    assert.equal(
      rows[3],
      '| azure_msi (ours) | closed 16 streams | 600.0 | 1.0 ms | 2.0 ms | 30.0 ms | 30.0 ms | 0 of 100 | 1.00 ms | 0.00 | 50.0 MB | 300 ms |',
    )
    assert.ok(
      t.endsWith(
        '- azure_msi, closed 16 streams: ours ÷ upstream throughput 2.00×, upstream ÷ ours p99 3.00×, CPU per attestation ours ÷ upstream 0.50×',
      ),
    )
  })
})

describe('the bench box and upstream’s built-in config', () => {
  test('hosts file: every Azure name on loopback', () => {
    const h = hostsFile(['login.microsoftonline.com', 'management.azure.com'])
    assert.equal(
      h,
      '127.0.0.1 localhost\n::1 localhost ip6-localhost\n127.0.0.1 login.microsoftonline.com\n127.0.0.1 management.azure.com\n',
    )
    assert.ok(hostsFile().includes('127.0.0.1 www.microsoft.com\n'))
  })

  test('builtIn: SPIRE’s own attestors, no plugin_cmd, upstream’s settings only', () => {
    const world = new World(fleetSpec({ standalone: 1, flexible: 0, uniform: 0 }))
    const emu = { world } as unknown as Emulator
    const conf = loadServerConf({
      serverBin: 'spire-server',
      attestors: ['azure_msi', 'azure_imds'],
      emu,
      builtIn: true,
      dir: '/tmp/x',
      port: 1,
    })
    assert.ok(!conf.includes('plugin_cmd'))
    assert.ok(!conf.includes('endpoints'))
    const t = world.tenant('fleet')
    assert.ok(conf.includes(`"${t.tenantId}" = {`))
    assert.ok(conf.includes(`subscription_id = "${t.subscriptions[0]!.subscriptionId}"`))
    assert.ok(conf.includes(`"${t.domains[0]}" = {`))
    assert.ok(conf.includes(`secret_auth = { app_id = "${t.apps[0]!.clientId}"`))
  })
})
