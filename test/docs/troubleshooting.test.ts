import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { FAILURE_REASONS, type FailureReason } from '../../shared/plugin/index.js'
import type { PluginProcess } from '../../shared/host/index.js'
import { startEmulator, type Emulator } from '../azure-emulator/index.js'
import { REPO_ROOT } from '../support/paths.js'
import {
  IMDS_AGENT_MAIN,
  IMDS_SERVER_MAIN,
  serverHcl,
  tenantHcl,
} from '../support/azure-imds-plugins.js'
import { MSI_AGENT_MAIN, MSI_SERVER_MAIN, serverHclFor } from '../support/azure-msi-plugins.js'
import {
  ensureSpire,
  freePort,
  SpireProcess,
  spireAgentConf,
  spireServerConf,
  SPIRE_VERSION,
  startSpireAgent,
  startSpireServer,
  writeFile,
  type NodeAttestorConf,
  type SpireLogLine,
} from '../support/spire.js'
import { CASES } from './troubleshooting-cases.js'
import { startEnv, type RunningEnv } from './troubleshooting-env.js'
import {
  matchesTemplate,
  parseTroubleshootingPage,
  type PageEntry,
  type WrappingRow,
} from './troubleshooting-page.js'

/**
 * docs/troubleshooting.md against real output. Every entry of the page has a case here that
 * produces that failure with the bundled plugin executables (driven by the host launcher, against
 * the Azure emulator), and the test checks the entry's code, its message — verbatim but for
 * <placeholders> —, the `reason` label counted through SPIRE's Metrics host service, and the
 * plugin's own log line where the page names one. Then real SPIRE v1.15.3 runs a few of them, and
 * every row of the page's "where the messages show up" table must match a line of its logs.
 */
const page = parseTroubleshootingPage(
  readFileSync(join(REPO_ROOT, 'docs', 'troubleshooting.md'), 'utf8'),
)
const entryByHeading = new Map(page.entries.map((e) => [e.heading, e]))

describe('docs/troubleshooting.md covers every failure', () => {
  test('every entry has a test case, and every test case an entry', () => {
    const headings = page.entries.map((e) => e.heading)
    assert.deepEqual(
      headings.filter((h) => CASES[h] === undefined),
      [],
      'entries without a case in test/docs/troubleshooting-cases.ts',
    )
    assert.deepEqual(
      Object.keys(CASES).filter((h) => !entryByHeading.has(h)),
      [],
      'cases without an entry in the page',
    )
    assert.equal(new Set(headings).size, headings.length, 'headings are unique')
  })

  test('every failure reason has an entry or is listed without one, not both', () => {
    const withEntry = new Set(page.entries.map((e) => e.reason))
    const without = new Set(page.withoutEntry)
    const all = Object.keys(FAILURE_REASONS) as FailureReason[]
    assert.deepEqual(
      all.filter((r) => !withEntry.has(r) && !without.has(r)),
      [],
      'reasons the page does not mention',
    )
    assert.deepEqual(
      all.filter((r) => withEntry.has(r) && without.has(r)),
      [],
      'reasons both with an entry and in the "without an entry" table',
    )
  })

  test('placeholders match any text, the rest verbatim', () => {
    assert.ok(
      matchesTemplate('tenant "<tenant-id>" is not authorized', 'tenant "x-y" is not authorized'),
    )
    assert.ok(
      !matchesTemplate('tenant "<tenant-id>" is not authorized', 'tenant "x" is not authorised'),
    )
    assert.ok(!matchesTemplate('nonce mismatch', 'nonce mismatch!'))
    assert.ok(matchesTemplate('a (b) [c] <x>.', 'a (b) [c] $1.'))
    assert.ok(matchesTemplate('<plugin>: <m>', 'azure_msi: ok', { plugin: 'azure_msi' }))
    assert.ok(!matchesTemplate('<plugin>: <m>', 'azure_imds: ok', { plugin: 'azure_msi' }))
  })
})

/** Refusals counted under `reason` by a plugin's `<name>.attest` counter. */
function refusalsCounted(plugin: PluginProcess, reason: string): number {
  return plugin.metrics
    .find('IncrCounter', `${plugin.name}.attest`)
    .filter((c) => c.labels.result === 'refused' && c.labels.reason === reason).length
}

/** Waits for `done` (metrics and stderr arrive on their own channels); fails with `what` after 15 s. */
async function eventually(done: () => boolean, what: () => string): Promise<void> {
  for (let i = 0; i < 300 && !done(); i++) await new Promise((r) => setTimeout(r, 50))
  assert.ok(done(), what())
}

describe('each entry, produced by the real plugin executables', { timeout: 600_000 }, () => {
  let env: RunningEnv
  before(async () => {
    env = await startEnv()
  })
  after(async () => {
    const errors = env?.emulatorErrors() ?? []
    await env?.stop()
    assert.deepEqual(errors, [], 'the emulator answered no request with an unexpected error')
  })

  for (const entry of page.entries) {
    const run = CASES[entry.heading]
    test(
      entry.heading,
      { skip: run === undefined ? 'no case: see the completeness test' : false },
      async () => {
        const shared = [env.msi, env.imds]
        const countedBefore = new Map(shared.map((p) => [p, refusalsCounted(p, entry.reason)]))
        const logsBefore = new Map(shared.map((p) => [p, p.logs.length]))
        const observed = await run!(env)
        assert.deepEqual(
          observed.map((o) => o.plugin.name),
          entry.plugins,
          'one refusal per plugin the heading names',
        )
        for (const { error, plugin } of observed) {
          assert.equal(error.code, entry.code, error.message)
          assert.ok(
            matchesTemplate(entry.message, error.details),
            `the page's message does not match the real one\n page: ${entry.message}\n real: ${error.details}`,
          )
          if (entry.side === 'server' && entry.stage === 'attest') {
            const before = countedBefore.get(plugin) ?? 0
            await eventually(
              () => refusalsCounted(plugin, entry.reason) > before,
              () =>
                `no ${plugin.name}.attest refusal counted with reason ${entry.reason}; counted: ${JSON.stringify(
                  plugin.metrics.find('IncrCounter', `${plugin.name}.attest`).map((c) => c.labels),
                )}`,
            )
          }
          if (entry.pluginLog !== undefined) {
            const from = logsBefore.get(plugin) ?? 0
            await eventually(
              () => plugin.logs.slice(from).some((l) => l.message === entry.pluginLog),
              () =>
                `no "${entry.pluginLog}" line; lines: ${JSON.stringify(plugin.logs.slice(from).map((l) => l.message))}`,
            )
          }
          assert.deepEqual(plugin.hostPanics, [], 'no log line that would panic SPIRE')
        }
      },
    )
  }
})

// ---- real SPIRE ---------------------------------------------------------------------------------

const spire = ensureSpire()
const skip = 'skip' in spire ? spire.skip : false
const bins = 'skip' in spire ? { server: '', agent: '' } : spire
/** Go's codes.Code names for our status names (they differ only in spelling Cancelled). */
const goCode = (code: string): string => (code === 'Cancelled' ? 'Canceled' : code)

interface Scenario {
  name: string
  /** The page entry whose message this scenario produces. */
  entry: string
  plugin: 'azure_msi' | 'azure_imds'
  /** `<process> <when>` of the table rows the scenario must produce. */
  rows: string[]
  /** Server log lines from this index on belong to the scenario (and later ones). */
  serverFrom: number
  /** Lines of the process that ran it (the agent, or a server that failed to start). */
  lines: SpireLogLine[]
  /** The long-running server's lines, when the scenario involves it. */
  serverLines?: () => SpireLogLine[]
}

const rowKey = (r: WrappingRow): string => `${r.process} ${r.when}`

/** Whether `line` is an instance of `row` for this entry and plugin. */
function rowMatches(
  row: WrappingRow,
  line: SpireLogLine,
  entry: PageEntry,
  plugin: string,
): boolean {
  const fill = (t: string): string =>
    t.replace('<message>', entry.message).replace('<plugin-log>', entry.pluginLog ?? '<plugin-log>')
  const subs = { plugin, code: goCode(entry.code) }
  if (row.level !== '<level>' && line.level !== row.level) return false
  if (!matchesTemplate(fill(row.msg), line.msg, subs)) return false
  if (row.msg === '<plugin-log>' && line['plugin_name'] !== plugin) return false
  const err = line['error']
  if (row.error === undefined) return err === undefined
  return typeof err === 'string' && matchesTemplate(fill(row.error), err, subs)
}

describe(
  `real SPIRE v${SPIRE_VERSION} logs the plugins' messages as the page says`,
  { skip, timeout: 400_000 },
  () => {
    let emu: Emulator
    let dir = ''
    let promPort = 0
    let server: SpireProcess
    const processes: SpireProcess[] = []
    const scenarios: Scenario[] = []

    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
    const imdsOf = (vm: string) =>
      `imds_endpoint = "${emu.endpoints.imdsFor(vm)}"\nretry_timeout = "2s"`
    const msiAgent = (pluginData: string): NodeAttestorConf => ({
      name: 'azure_msi',
      pluginCmd: MSI_AGENT_MAIN,
      pluginData,
    })
    const imdsAgent = (pluginData: string): NodeAttestorConf => ({
      name: 'azure_imds',
      pluginCmd: IMDS_AGENT_MAIN,
      pluginData,
    })

    /** Runs one agent until a line `until` matches; SPIRE rate-limits attestations per client IP. */
    async function agent(
      name: string,
      port: number,
      nodeAttestor: NodeAttestorConf,
      until: (l: SpireLogLine) => boolean,
    ): Promise<SpireProcess> {
      await sleep(1_100)
      const a = startSpireAgent(
        bins.agent,
        dir,
        name,
        spireAgentConf({ dir, name, port, nodeAttestor }),
      )
      processes.push(a)
      await a.waitForLine(until, 90_000, `agent ${name}`)
      await a.stop('SIGKILL')
      return a
    }
    const crashed = (l: SpireLogLine) => l.msg === 'Agent crashed'
    const retrying = (l: SpireLogLine) => l.msg === 'Failed to retrieve attestation result'

    before(async () => {
      if ('skip' in spire) return
      emu = await startEmulator()
      dir = mkdtempSync(join(tmpdir(), 'docs-troubleshooting'))
      const port = await freePort()
      promPort = await freePort()
      server = await startSpireServer(
        bins.server,
        dir,
        spireServerConf({
          dir,
          port,
          nodeAttestor: [
            {
              name: 'azure_msi',
              pluginCmd: MSI_SERVER_MAIN,
              pluginData: serverHclFor(emu, [{ tenant: 'contoso' }]),
            },
            {
              name: 'azure_imds',
              pluginCmd: IMDS_SERVER_MAIN,
              pluginData: serverHcl(emu, tenantHcl(emu, 'contoso')),
            },
          ],
          extra: `telemetry {\n  Prometheus {\n    host = "127.0.0.1"\n    port = ${promPort}\n  }\n}\n`,
        }),
      )
      processes.push(server)
      const serverLines = () => server.lines
      const add = async (
        s: Omit<Scenario, 'serverFrom' | 'lines' | 'serverLines'>,
        run: () => Promise<SpireProcess>,
        withServer = true,
      ) => {
        const serverFrom = server.lines.length
        const p = await run()
        scenarios.push({ ...s, serverFrom, lines: p.lines, ...(withServer ? { serverLines } : {}) })
      }

      // TOFU: the first agent on frontend/blog attests, the second is refused and stops
      await agent(
        'first',
        port,
        msiAgent(imdsOf('frontend/blog')),
        (l) => l.msg === 'Node attestation was successful',
      )
      await add(
        {
          name: 'TOFU',
          entry: 'server azure_msi, azure_imds · already_attested',
          plugin: 'azure_msi',
          rows: [
            'spire-server refused with any other code',
            'spire-agent refused with PermissionDenied',
            'spire-server plugin log line',
          ],
        },
        () => agent('tofu', port, msiAgent(imdsOf('frontend/blog')), crashed),
      )
      await add(
        {
          name: 'tenant not authorized',
          entry: 'server azure_imds · tenant_not_authorized',
          plugin: 'azure_imds',
          rows: [
            'spire-server refused with any other code',
            'spire-agent refused with PermissionDenied',
          ],
        },
        () =>
          agent(
            'tenant',
            port,
            imdsAgent(`${imdsOf('frontend/worker')}\ntenant_domain = "nosuch.onmicrosoft.com"`),
            crashed,
          ),
      )
      // IMDS hands the agent something that is not a JWT: InvalidArgument, and the agent retries
      emu.faults.set('imds.token', {
        kind: 'status',
        status: 200,
        body: { access_token: 'abc.def', expires_in: '3600', token_type: 'Bearer' },
      })
      try {
        await add(
          {
            name: 'malformed token',
            entry: 'server azure_msi · malformed_token',
            plugin: 'azure_msi',
            rows: [
              'spire-server refused with InvalidArgument',
              'spire-agent refused with any other code',
            ],
          },
          () => agent('token', port, msiAgent(imdsOf('frontend/worker')), retrying),
        )
      } finally {
        emu.faults.clear('imds.token')
      }
      await add(
        {
          name: 'audience',
          entry: 'server azure_msi · invalid_audience',
          plugin: 'azure_msi',
          rows: [
            'spire-server refused with any other code',
            'spire-agent refused with any other code',
          ],
        },
        () =>
          agent(
            'audience',
            port,
            msiAgent(`${imdsOf('frontend/api')}\nresource_id = "https://vault.azure.net"`),
            retrying,
          ),
      )
      await add(
        {
          name: 'agent plugin',
          entry: 'agent azure_msi · token_fetch_failed (no identity)',
          plugin: 'azure_msi',
          rows: ['spire-agent agent plugin failed'],
        },
        () => agent('no-identity', port, msiAgent(imdsOf('frontend/plain')), retrying),
        false,
      )
      await add(
        {
          name: 'agent Configure',
          entry: 'agent azure_imds · invalid_configuration (tenant_domain)',
          plugin: 'azure_imds',
          rows: ['spire-agent Configure refused'],
        },
        () => agent('agent-config', port, imdsAgent(''), crashed),
        false,
      )
      await add(
        {
          name: 'server Configure',
          entry: 'server azure_msi · invalid_configuration (tenant ID)',
          plugin: 'azure_msi',
          rows: ['spire-server Configure refused'],
        },
        async () => {
          const conf = spireServerConf({
            dir,
            port: await freePort(),
            name: 'bad-server',
            nodeAttestor: {
              name: 'azure_msi',
              pluginCmd: MSI_SERVER_MAIN,
              pluginData: 'tenants = { "contoso.onmicrosoft.com" = {} }',
            },
          })
          const bad = new SpireProcess(
            bins.server,
            ['run', '-config', writeFile(join(dir, 'bad-server.conf'), conf)],
            dir,
          )
          processes.push(bad)
          await bad.waitForLine((l) => l.msg === 'Server crashed', 60_000, 'the server to stop')
          await bad.stop('SIGKILL')
          return bad
        },
        false,
      )
    })

    after(async () => {
      for (const p of processes) await p.stop('SIGKILL')
      await emu?.stop()
      if (dir) rmSync(dir, { recursive: true, force: true })
    })

    test('each scenario produced the rows it should, with the entry message in them', () => {
      for (const s of scenarios) {
        const entry = entryByHeading.get(s.entry)
        assert.ok(entry !== undefined, `${s.name}: no entry ${s.entry}`)
        for (const key of s.rows) {
          const rows = page.wrapping.filter((r) => rowKey(r) === key)
          assert.ok(rows.length > 0, `${s.name}: the page has no row "${key}"`)
          for (const row of rows) {
            const lines =
              row.process === 'spire-server' && s.serverLines !== undefined
                ? s.serverLines().slice(s.serverFrom)
                : s.lines
            assert.ok(
              lines.some((l) => rowMatches(row, l, entry, s.plugin)),
              `${s.name}: no ${row.process} line matches the row ${JSON.stringify(row)}\nerror/warning lines:\n${lines
                .filter((l) => l.level === 'error' || l.level === 'warning')
                .map((l) => JSON.stringify(l))
                .join('\n')}`,
            )
          }
        }
      }
    })

    test('every row of the table was seen', () => {
      const seen = new Set(scenarios.flatMap((s) => s.rows))
      assert.deepEqual(
        page.wrapping.map(rowKey).filter((k) => !seen.has(k)),
        [],
        'rows no scenario produced',
      )
    })

    test('Prometheus counts the refusals under the reason the page gives', async () => {
      const expected = scenarios.filter((x) => x.serverLines !== undefined)
      const isCounted = (text: string, s: (typeof expected)[number]): boolean => {
        const entry = entryByHeading.get(s.entry)!
        return text
          .split('\n')
          .some(
            (l) =>
              l.startsWith(`spire_server_${s.plugin}_attest{`) &&
              l.includes(`reason="${entry.reason}"`) &&
              l.includes('result="refused"'),
          )
      }
      // the plugins sum counters and send them once a second: poll (bounded) until all are in
      let text = ''
      for (let i = 0; i < 100; i++) {
        text = await (await fetch(`http://127.0.0.1:${promPort}/metrics`)).text()
        if (expected.every((s) => isCounted(text, s))) break
        await new Promise((r) => setTimeout(r, 100))
      }
      for (const s of expected) {
        const entry = entryByHeading.get(s.entry)!
        const counted = isCounted(text, s)
        assert.ok(
          counted,
          `${s.name}: spire_server_${s.plugin}_attest with reason="${entry.reason}"\n${text
            .split('\n')
            .filter((l) => l.includes('_attest{'))
            .join('\n')}`,
        )
      }
    })
  },
)
