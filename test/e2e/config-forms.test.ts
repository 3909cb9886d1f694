import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { loadSpireConfig } from '../../shared/cli/spire-config.js'
import { parseHcl } from '../../shared/go/hcl/parse.js'
import { startEmulator, type Emulator } from '../azure-emulator/index.js'
import {
  agentHcl,
  IMDS_AGENT_MAIN,
  IMDS_SERVER_MAIN,
  serverHcl,
  tenantHcl,
} from '../support/azure-imds-plugins.js'
import {
  agentHclFor,
  MSI_AGENT_MAIN,
  MSI_SERVER_MAIN,
  serverHclFor,
} from '../support/azure-msi-plugins.js'
import { CONFIG_FORMS, pluginDataFilePath, type ConfigForm } from '../support/config-forms.js'
import { cellsOf, recordCells, recordSkippedCells } from '../support/matrix.js'
import {
  E2E_TRUST_DOMAIN,
  ensureSpire,
  exec,
  freePort,
  serverSocket,
  spireAgentConf,
  spireServerConf,
  SPIRE_VERSION,
  startSpireAgent,
  startSpireServer,
  writeFile,
  type NodeAttestorConf,
  type SpireLogLine,
  type SpireProcess,
} from '../support/spire.js'

/**
 * The three forms of a server config (SPIRE's HCL, its JSON form, HCL with `plugin_data_file`) with
 * real SPIRE and the Azure emulator: each form's server attests our agents with both attestors and
 * passes `spire-server validate` (a broken plugin_data fails it with our plugin's message). Then the
 * plugin_data_file server is reloaded by SIGUSR1 while agents attest: SPIRE v1.15.3 re-reads every
 * plugin_data_file (catalog.FileData is "dynamic"), calls Configure only when the text's hash changed,
 * and on a failure logs "Failed to reconfigure plugin" and keeps the plugin's last good config.
 */
const installed = ensureSpire()
const skip = 'skip' in installed ? installed.skip : false
const spire = 'skip' in installed ? { server: '', agent: '' } : installed
const TD = E2E_TRUST_DOMAIN
type Attestor = 'azure_msi' | 'azure_imds'
const ATTESTORS: readonly Attestor[] = ['azure_msi', 'azure_imds']
/** A subscription no VM of the emulator is in. */
const OTHER_SUBSCRIPTION = '00000000-0000-4000-8000-00000000beef'
const RELOADED = {
  azure_msi:
    'agent_path_template = "/{{ .PluginName }}/reloaded/{{ .TenantID }}/{{ .PrincipalID }}"',
  azure_imds:
    'agent_path_template = "/{{ .PluginName }}/reloaded/{{ .TenantID }}/{{ .SubscriptionID }}/{{ .VMID }}"',
} as const

interface Server {
  form: ConfigForm
  dir: string
  port: number
  process: SpireProcess
}

type Outcome = { ok: true; id: string } | { ok: false; error: string }

// docs/compatibility.md's config forms table (test/support/matrix.ts)
const SUITE = `real SPIRE v${SPIRE_VERSION}: server config as HCL, JSON and plugin_data_file`
const CELLS = cellsOf(
  { table: 'config', file: 'test/e2e/config-forms.test.ts', version: SPIRE_VERSION },
  [
    ...CONFIG_FORMS.flatMap((form) => [
      [form, 'attests', `${form}: our spire-server attests our agents`] as const,
      [form, 'validate', `${form}: spire-server validate passes`] as const,
    ]),
    ['plugin_data_file', 'reload', 'plugin_data_file: SIGUSR1 while agents attest'],
  ],
)
if (skip) recordSkippedCells(CELLS, { suite: SUITE, reason: skip })

describe(
  SUITE,
  {
    skip,
    timeout: 240_000,
  },
  () => {
    recordCells(CELLS)
    let emu: Emulator
    let root = ''
    const servers = new Map<ConfigForm, Server>()
    const agents: SpireProcess[] = []

    /**
     * The server plugin_data of each attestor: the emulator's contoso tenant; `template`: the
     * reloaded agent path template; `sub`: allow only that subscription.
     */
    const serverData = (
      attestor: Attestor,
      o: { template?: boolean; sub?: string } = {},
    ): string => {
      const template = o.template === true ? RELOADED[attestor] : ''
      if (attestor === 'azure_msi') {
        return serverHclFor(
          emu,
          [{ tenant: 'contoso', ...(o.sub === undefined ? {} : { subscription: o.sub }) }],
          template,
        )
      }
      const restrict = o.sub === undefined ? '' : `restrict_to_subscriptions = ["${o.sub}"]`
      return serverHcl(emu, tenantHcl(emu, 'contoso', restrict), template)
    }
    const serverAttestors = (data = serverData): NodeAttestorConf[] => [
      { name: 'azure_msi', pluginCmd: MSI_SERVER_MAIN, pluginData: data('azure_msi') },
      { name: 'azure_imds', pluginCmd: IMDS_SERVER_MAIN, pluginData: data('azure_imds') },
    ]

    /** The agent ID a VM gets from `attestor` under the default or the reloaded template. */
    function spiffeId(attestor: Attestor, vm: string, reloaded = false): string {
      const v = emu.world.vm(vm)
      const sub = v.resourceGroup.subscription
      const base = `spiffe://${TD}/spire/agent/${attestor}${reloaded ? '/reloaded' : ''}`
      return attestor === 'azure_msi'
        ? `${base}/${sub.tenant.tenantId}/${v.identity.system!.principalId}`
        : `${base}/${sub.tenant.tenantId}/${sub.subscriptionId}/${v.vmId}`
    }

    function startAgent(s: Server, attestor: Attestor, vm: string): SpireProcess {
      const name = `${attestor}-${vm.replaceAll('/', '-')}`
      const nodeAttestor: NodeAttestorConf =
        attestor === 'azure_msi'
          ? { name: attestor, pluginCmd: MSI_AGENT_MAIN, pluginData: agentHclFor(emu, vm) }
          : { name: attestor, pluginCmd: IMDS_AGENT_MAIN, pluginData: agentHcl(emu, vm) }
      const agent = startSpireAgent(
        spire.agent,
        s.dir,
        name,
        spireAgentConf({ dir: s.dir, name, port: s.port, nodeAttestor }),
      )
      agents.push(agent)
      return agent
    }

    /** Waits for the agent's attestation to succeed or fail; a failed agent is stopped. */
    async function outcome(agent: SpireProcess): Promise<Outcome> {
      for (let i = 0; i < 1200; i++) {
        const ok = agent.find((l) => l.msg === 'Node attestation was successful')
        if (ok) return { ok: true, id: String(ok.spiffe_id) }
        const failed = agent.find((l) => l.level === 'error')
        if (failed !== undefined || agent.child.exitCode !== null) {
          await agent.stop('SIGKILL')
          return {
            ok: false,
            error: failed === undefined ? agent.raw.join('\n') : JSON.stringify(failed),
          }
        }
        await new Promise((r) => setTimeout(r, 50))
      }
      throw new Error(`agent never ended its attestation:\n${agent.raw.slice(-20).join('\n')}`)
    }

    async function attest(s: Server, attestor: Attestor, vm: string): Promise<Outcome> {
      return outcome(startAgent(s, attestor, vm))
    }

    before(async () => {
      if (skip) return
      emu = await startEmulator()
      root = mkdtempSync(join(tmpdir(), 'e2e-forms'))
      // one server per form, serving both attestors; started together (they wait on I/O mostly)
      await Promise.all(
        CONFIG_FORMS.map(async (form) => {
          const dir = join(root, form)
          const port = await freePort()
          const conf = spireServerConf({ dir, port, nodeAttestor: serverAttestors(), form })
          const process = await startSpireServer(spire.server, dir, conf)
          servers.set(form, { form, dir, port, process })
        }),
      )
    })

    after(async () => {
      for (const a of agents) await a.stop('SIGKILL')
      for (const s of servers.values()) await s.process.stop('SIGKILL')
      await emu?.stop()
      if (root) rmSync(root, { recursive: true, force: true })
    })

    test('the JSON form hands each plugin the same settings as the HCL form (project reader)', () => {
      const hcl = servers.get('hcl')!
      const json = servers.get('json')!
      const text = readFileSync(join(json.dir, 'server.conf'), 'utf8')
      assert.equal(text.trimStart()[0], '{')
      const read = (dir: string) =>
        loadSpireConfig(join(dir, 'server.conf'), { readFile: (p) => readFileSync(p, 'utf8') })
      for (const attestor of ATTESTORS) {
        const data = (dir: string) => {
          const p = read(dir).plugins.find((x) => x.type === 'NodeAttestor' && x.name === attestor)
          assert.ok(p, attestor)
          return parseHcl(p.pluginData)
        }
        assert.deepEqual(data(json.dir), data(hcl.dir), attestor)
        // what the plugin parses is SPIRE's re-print of the JSON object, not the HCL text
        const printed = read(json.dir).plugins.find((x) => x.name === attestor)!.pluginData
        assert.match(printed, /^"tenants" "[^"]+" \{$/m, printed)
        const fromFile = read(servers.get('plugin_data_file')!.dir).plugins.find(
          (x) => x.name === attestor,
        )
        assert.equal(fromFile?.dataSource, 'plugin_data_file')
        assert.deepEqual(parseHcl(fromFile.pluginData), data(hcl.dir), attestor)
      }
    })

    for (const form of CONFIG_FORMS) {
      test(`${form}: our spire-server attests our agents with azure_msi and azure_imds`, async () => {
        const s = servers.get(form)!
        const results = await Promise.all(
          ATTESTORS.map((a) => attest(s, a, 'frontend/blog').then((o) => [a, o] as const)),
        )
        for (const [a, o] of results) {
          assert.deepEqual(o, { ok: true, id: spiffeId(a, 'frontend/blog') }, `${form} ${a}`)
        }
      })

      test(`${form}: spire-server validate passes, and fails on a broken plugin_data with our message`, async () => {
        const s = servers.get(form)!
        const good = await exec(
          spire.server,
          ['validate', '-config', join(s.dir, 'server.conf')],
          s.dir,
        )
        assert.equal(good.status, 0, good.stdout + good.stderr)
        assert.match(good.stdout, /SPIRE server configuration file is valid/)
        // a second config in its own folder: plugin_data_file names files beside it
        const dir = join(s.dir, 'broken')
        const broken = spireServerConf({
          dir,
          port: s.port,
          form,
          nodeAttestor: serverAttestors((a) =>
            a === 'azure_msi' ? 'tenants = {}' : serverData(a),
          ),
        })
        const file = writeFile(join(dir, 'server.conf'), broken)
        const bad = await exec(spire.server, ['validate', '-config', file], dir)
        assert.equal(bad.status, 1, bad.stdout + bad.stderr)
        assert.match(
          bad.stderr,
          /NodeAttestor "azure_msi":\n\t\tconfiguration must have at least one tenant/,
        )
        assert.doesNotMatch(bad.stderr, /NodeAttestor "azure_imds"/)
        if (form === 'plugin_data_file') {
          // a file can hold what inline plugin_data cannot: text that does not parse
          writeFileSync(pluginDataFilePath(dir, 'azure_imds'), 'tenants = {')
          const unparsable = await exec(spire.server, ['validate', '-config', file], dir)
          assert.equal(unparsable.status, 1)
          assert.match(
            unparsable.stderr,
            /NodeAttestor "azure_imds":\n\t\tunable to decode configuration: /,
          )
        }
      })
    }

    test('plugin_data_file: SIGUSR1 while agents attest; the next attestation follows the new file; a broken file keeps the old config', async (t) => {
      const s = servers.get('plugin_data_file')!
      const log = s.process
      const write = (data: (a: Attestor) => string): void => {
        for (const a of ATTESTORS) writeFileSync(pluginDataFilePath(s.dir, a), data(a))
      }
      /** SIGUSR1, then every reconfigure line of both plugins that this signal produced. */
      async function reload(): Promise<Record<Attestor, SpireLogLine>> {
        const seen = log.lines.length
        const received = log.lines.filter((l) => l.msg === 'Reconfigure signal received').length
        s.process.child.kill('SIGUSR1')
        await log.waitForLine(
          (l) =>
            l.msg === 'Reconfigure signal received' &&
            log.lines.filter((x) => x.msg === 'Reconfigure signal received').length > received,
          30_000,
          'the reconfigure signal',
        )
        const result = {} as Record<Attestor, SpireLogLine>
        for (const a of ATTESTORS) {
          result[a] = await log.waitForLine(
            (l) =>
              log.lines.indexOf(l) >= seen &&
              l.plugin_name === a &&
              /^(Plugin reconfigured|Plugin not reconfigured|Failed to reconfigure plugin)/.test(
                l.msg,
              ),
            30_000,
            `${a} reconfigured`,
          )
        }
        return result
      }

      // 1. the files change to a new agent path template and SIGUSR1 lands while two attestations
      // are inside the plugins (their ARM VM read held by the emulator) and two more attest at the
      // same time (SPIRE admits one attestation per second per client IP, so they end before or after)
      const vmGets = emu.counters.get('arm.vm.get')
      emu.faults.set('arm.vm.get', { kind: 'latency', ms: 4_000 }, { times: 2 })
      const held = ATTESTORS.map((a) => [a, 'frontend/worker'] as const)
      const alongside = ATTESTORS.map((a) => [a, 'frontend/web/0'] as const)
      const racing = [...held, ...alongside]
      const ends = racing.map(([a, vm]) => outcome(startAgent(s, a, vm)))
      for (let i = 0; emu.counters.get('arm.vm.get') < vmGets + 2; i++) {
        if (i > 600) assert.fail('the held attestations never reached ARM')
        await new Promise((r) => setTimeout(r, 50))
      }
      write((a) => serverData(a, { template: true }))
      const changed = await reload()
      for (const a of ATTESTORS) assert.equal(changed[a].msg, 'Plugin reconfigured', a)
      const raced = await Promise.all(ends)
      emu.faults.clear('arm.vm.get')
      const outcomes = racing.map(([a, vm], i) => {
        const o = raced[i]!
        if (!o.ok) assert.fail(`${a} on ${vm}: ${o.error}`)
        assert.ok(
          o.id === spiffeId(a, vm) || o.id === spiffeId(a, vm, true),
          `${a} on ${vm}: ${o.id}`,
        )
        return `${a} on ${vm}: ${o.id === spiffeId(a, vm) ? 'old' : 'new'} template`
      })
      t.diagnostic(outcomes.join('; '))
      // an attestation keeps the config it started with, though it ended after the reload
      const reconfiguredAt = Math.max(...ATTESTORS.map((a) => log.lines.indexOf(changed[a])))
      for (const [a, vm] of held) {
        const id = spiffeId(a, vm)
        assert.deepEqual(raced[racing.findIndex(([x, v]) => x === a && v === vm)], { ok: true, id })
        const attested = log.lines.findIndex(
          (l) => l.plugin_name === a && l.msg === 'Agent attested' && l.spiffe_id === id,
        )
        assert.ok(attested > reconfiguredAt, `${a}: attested before the reload ended`)
      }

      // 2. the next attestation follows the new file
      const next = await Promise.all(ATTESTORS.map((a) => attest(s, a, 'frontend/flex/0')))
      ATTESTORS.forEach((a, i) => {
        assert.deepEqual(next[i], { ok: true, id: spiffeId(a, 'frontend/flex/0', true) }, a)
      })

      // 3. the same text again: SPIRE does not call Configure
      const same = await reload()
      for (const a of ATTESTORS) {
        assert.equal(same[a].msg, 'Plugin not reconfigured since the config is unchanged', a)
      }

      // 4. broken files (one does not parse, one has no tenant): SPIRE logs our message, the plugin keeps its config
      writeFileSync(pluginDataFilePath(s.dir, 'azure_msi'), 'tenants = {\n')
      writeFileSync(pluginDataFilePath(s.dir, 'azure_imds'), 'tenants = {}\n')
      const broken = await reload()
      for (const a of ATTESTORS) {
        assert.equal(broken[a].msg, 'Failed to reconfigure plugin', a)
        assert.equal(broken[a].level, 'error', a)
      }
      assert.match(
        String(broken.azure_msi.error),
        /^rpc error: code = InvalidArgument desc = unable to decode configuration: /,
      )
      assert.equal(
        broken.azure_imds.error,
        'rpc error: code = InvalidArgument desc = configuration must have at least one tenant',
      )
      const kept = await Promise.all(ATTESTORS.map((a) => attest(s, a, 'frontend/flex/1')))
      ATTESTORS.forEach((a, i) => {
        assert.deepEqual(kept[i], { ok: true, id: spiffeId(a, 'frontend/flex/1', true) }, a)
      })

      // 5. a file that allows another subscription only: the next agent is refused, with our reason
      write((a) => serverData(a, { template: true, sub: OTHER_SUBSCRIPTION }))
      const restricted = await reload()
      for (const a of ATTESTORS) assert.equal(restricted[a].msg, 'Plugin reconfigured', a)
      const refused = await Promise.all(ATTESTORS.map((a) => attest(s, a, 'frontend/flex/2')))
      const flex2 = emu.world.vm('frontend/flex/2').resourceGroup.subscription.subscriptionId
      ATTESTORS.forEach((a, i) => {
        const o = refused[i]!
        if (o.ok) assert.fail(`${a} on frontend/flex/2 attested as ${o.id}`)
        assert.ok(
          o.error.includes(`nodeattestor(${a}): subscription \\"${flex2}\\" is not authorized`),
          `${a}: ${o.error}`,
        )
      })
      // the server's socket still answers: nothing was restarted
      const health = await exec(
        spire.server,
        ['healthcheck', '-socketPath', serverSocket(s.dir)],
        s.dir,
      )
      assert.equal(health.status, 0, health.stdout + health.stderr)
    })
  },
)
