import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test, type TestContext } from 'node:test'
import { startEmulator, type Emulator } from '../azure-emulator/index.js'
import {
  IMDS_AGENT_MAIN,
  IMDS_SERVER_MAIN,
  serverHcl,
  tenantHcl,
} from '../support/azure-imds-plugins.js'
import { cellsOf, recordCells, recordSkippedCells } from '../support/matrix.js'
import {
  ensureSpire,
  exec,
  freePort,
  serverSocket,
  spireAgentConf,
  spireServerConf,
  SPIRE_VERSION,
  startSpireAgent,
  startSpireServer,
  type NodeAttestorConf,
  type SpireLogLine,
  type SpireProcess,
} from '../support/spire.js'

/**
 * azure_imds `reattest = true` in real SPIRE v1.15.3 against the emulator: the agent renews its SVID
 * by re-attesting (agent_ttl 15 s, so SPIRE rotates every ~5 s), a reimaged VM (agent data wiped)
 * rejoins without `agent evict`, and a tag changed in Azure shows in `spire-server agent show` once
 * the plugin's 60 s VM read cache has passed. With the default, a reimaged VM is refused as already
 * attested (upstream's TOFU). The two scenarios run side by side, each with its own emulator, so
 * the Azure requests counted per re-attestation belong to one server. Adds ~65–75 s to `npm test`,
 * nearly all of it the wait for the read cache's TTL.
 */
const installed = ensureSpire()
const skip = 'skip' in installed ? installed.skip : false
const spire = 'skip' in installed ? { server: '', agent: '' } : installed

/** Short agent SVIDs: SPIRE's agent rotates at half-life (±10 %), checking every 5 s. */
const AGENT_TTL = '15s'
/**
 * Polls of `agent show`, one a second: the plugin's VM/NIC read cache (READ_CACHE_TTL_MS in
 * server-plugin/azure-imds/deps.ts, 60 s) plus a few rotations of slack.
 */
const TAG_POLLS = 100

interface Side {
  emu: Emulator
  dir: string
  port: number
  server: SpireProcess
  agents: SpireProcess[]
}

const imdsAgent = (imds: string): NodeAttestorConf => ({
  name: 'azure_imds',
  pluginCmd: IMDS_AGENT_MAIN,
  pluginData: `tenant_domain = "contoso.onmicrosoft.com"\nimds_endpoint = "${imds}"`,
})

async function startSide(prefix: string, extraData: string, serverExtra?: string): Promise<Side> {
  const emu = await startEmulator()
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const port = await freePort()
  const data = serverHcl(
    emu,
    tenantHcl(emu, 'contoso', 'allowed_vm_tags = ["environment"]'),
    extraData,
  )
  const nodeAttestor = { name: 'azure_imds', pluginCmd: IMDS_SERVER_MAIN, pluginData: data }
  const conf = spireServerConf({
    dir,
    port,
    nodeAttestor,
    ...(serverExtra === undefined ? {} : { serverExtra }),
  })
  const server = await startSpireServer(spire.server, dir, conf)
  return { emu, dir, port, server, agents: [] }
}

function startAgent(side: Side, name: string, vm: string): SpireProcess {
  // a reimaged VM: nothing of the previous agent survives (the KeyManager is memory anyway)
  rmSync(join(side.dir, name), { recursive: true, force: true })
  const nodeAttestor = imdsAgent(side.emu.endpoints.imdsFor(vm))
  const conf = spireAgentConf({ dir: side.dir, name, port: side.port, nodeAttestor })
  const agent = startSpireAgent(spire.agent, side.dir, name, conf)
  side.agents.push(agent)
  return agent
}

/** `spire-server agent show`, run asynchronously so the in-process emulator keeps answering. */
async function agentShow(side: Side, spiffeId: string): Promise<string> {
  const res = await exec(
    spire.server,
    ['agent', 'show', '-socketPath', serverSocket(side.dir), '-spiffeID', spiffeId],
    side.dir,
  )
  assert.equal(res.status, 0, res.stderr)
  return res.stdout
}

const attested = (l: SpireLogLine): boolean => l.msg === 'Node attestation was successful'
const reattested = (l: SpireLogLine): boolean => l.msg === 'Successfully reattested node'
const pluginAttested = (l: SpireLogLine): boolean =>
  l.plugin_name === 'azure_imds' && l.external === true && l.msg === 'Agent attested'
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The emulator's IMDS document, ARM and Resource Graph requests since `before`. */
function azureRequests(emu: Emulator, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [route, n] of Object.entries(emu.counters.snapshot())) {
    const d = n - (before[route] ?? 0)
    if (d > 0 && (route.startsWith('arm.') || route === 'imds.document')) out[route] = d
  }
  return out
}

// docs/compatibility.md's re-attestation table (test/support/matrix.ts)
const SUITE = `real SPIRE v${SPIRE_VERSION}: azure_imds re-attestation`
const CELLS = cellsOf(
  { table: 'reattest', file: 'test/e2e/azure-imds-reattest.test.ts', version: SPIRE_VERSION },
  [
    ['reattest-true', 'result', 'reattest = true: '],
    ['default', 'result', 'default (TOFU, as upstream): '],
  ],
)
if (skip) recordSkippedCells(CELLS, { suite: SUITE, reason: skip })

describe(
  SUITE,
  {
    skip,
    timeout: 240_000,
    concurrency: true,
  },
  () => {
    recordCells(CELLS)
    let reattest: Side | undefined
    let tofu: Side | undefined

    before(async () => {
      if (skip) return
      ;[reattest, tofu] = await Promise.all([
        startSide('e2e-imds-reattest', 'reattest = true', `agent_ttl = "${AGENT_TTL}"`),
        startSide('e2e-imds-tofu', ''),
      ])
    })

    after(async () => {
      for (const side of [reattest, tofu]) {
        if (side === undefined) continue
        for (const a of side.agents) await a.stop('SIGKILL')
        await side.server.stop('SIGKILL')
        await side.emu.stop()
        assert.deepEqual(side.emu.errors, [])
        rmSync(side.dir, { recursive: true, force: true })
      }
    })

    test('reattest = true: SVIDs renew by re-attesting, a reimaged VM rejoins, a changed tag shows in agent show', async (t: TestContext) => {
      const side = reattest!
      const vm = side.emu.world.vm('frontend/blog')
      const cold = side.emu.counters.snapshot()

      // 1. first attestation: the agent is told it may re-attest
      const first = startAgent(side, 'blog', 'frontend/blog')
      const ok = await first.waitForLine(attested, 60_000, 'node attestation')
      assert.equal(ok.reattestable, true)
      const spiffeId = String(ok.spiffe_id)
      const coldCost = azureRequests(side.emu, cold)
      let shown = await agentShow(side, spiffeId)
      assert.match(shown, /Can re-attest\s*: true/)
      assert.match(shown, /azure_imds:vm-tag:environment:production/)

      // 2. the tag changes in Azure
      ;(vm as { tags: Record<string, string> }).tags = { ...vm.tags, environment: 'staging' }

      // 3. the VM is reimaged: a new agent with no data attests as the same agent ID
      await first.stop('SIGKILL')
      await sleep(1_100) // SPIRE rate-limits attestation per client IP
      const reimaged = startAgent(side, 'blog', 'frontend/blog')
      const again = await reimaged.waitForLine(
        (l) => attested(l) || /already been used/.test(JSON.stringify(l)),
        60_000,
        'attestation of the reimaged VM',
      )
      assert.equal(again.msg, 'Node attestation was successful', JSON.stringify(again))
      assert.equal(again.spiffe_id, spiffeId)

      // 4. the reimaged agent renews by re-attesting; once the read cache's TTL has passed, the
      //    selectors SPIRE stores carry the new tag
      const warm = side.emu.counters.snapshot()
      const warmReattests = reimaged.lines.filter(reattested).length
      const warmAttests = side.server.lines.filter(pluginAttested).length
      let polls = 0
      for (; polls < TAG_POLLS; polls++) {
        shown = await agentShow(side, spiffeId)
        if (/azure_imds:vm-tag:environment:staging/.test(shown)) break
        await sleep(1_000)
      }
      assert.ok(polls < TAG_POLLS, `the new tag never showed; last agent show:\n${shown}`)
      assert.doesNotMatch(shown, /azure_imds:vm-tag:environment:production/)
      assert.match(shown, /Can re-attest\s*: true/)
      const reattests = reimaged.lines.filter(reattested).length - warmReattests
      const attests = side.server.lines.filter(pluginAttested).length - warmAttests
      assert.ok(reattests >= 1, 'the agent re-attested')
      // one re-attestation may be in flight: seen by the server, not yet by the agent
      assert.ok(
        attests >= reattests && attests <= reattests + 1,
        `plugin attestations ${attests}, agent re-attestations ${reattests}`,
      )
      assert.equal(
        side.server.lines.filter((l) => /already been used/.test(l.msg ?? '')).length,
        0,
        'no TOFU refusal',
      )
      // RenewAgent is refused for an agent that can re-attest; SPIRE's agent never tries it
      assert.equal(reimaged.lines.filter((l) => /must reattest/.test(JSON.stringify(l))).length, 0)

      // 5. what re-attestation costs: one fresh document each; Azure reads only as the caches expire
      const warmCost = azureRequests(side.emu, warm)
      assert.equal(coldCost['imds.document'], 1)
      const documents = warmCost['imds.document'] ?? 0
      assert.ok(
        documents >= reattests && documents <= reattests + 1,
        `one fresh document per re-attestation: ${documents} for ${reattests}`,
      )
      const arm = Object.entries(warmCost)
        .filter(([r]) => r.startsWith('arm.'))
        .reduce((n, [, c]) => n + c, 0)
      t.diagnostic(
        `first attestation: ${JSON.stringify(coldCost)}; ${reattests} re-attestations until the ` +
          `tag showed (${polls} polls of agent show, 1 s apart): ${JSON.stringify(warmCost)} ` +
          `(${(arm / reattests).toFixed(2)} ARM/Resource Graph requests per re-attestation)`,
      )
      assert.deepEqual(
        Object.keys(coldCost)
          .filter((r) => r.startsWith('arm.'))
          .sort(),
        ['arm.nic.get', 'arm.subscription.get', 'arm.vm.get'],
      )
      // within the 60 s TTL re-attestations are answered from memory: the VM and NIC were read
      // again at most twice each (one refresh, one reload) while the tag changed
      assert.ok((warmCost['arm.vm.get'] ?? 0) <= 2, JSON.stringify(warmCost))
      assert.ok((warmCost['arm.vm.get'] ?? 0) >= 1, JSON.stringify(warmCost))
    })

    test('default (TOFU, as upstream): a reimaged VM is refused as already attested', async () => {
      const side = tofu!
      const first = startAgent(side, 'web1', 'frontend/web/1')
      const ok = await first.waitForLine(attested, 60_000, 'node attestation')
      assert.equal(ok.reattestable, false)
      const spiffeId = String(ok.spiffe_id)
      assert.match(await agentShow(side, spiffeId), /Can re-attest\s*: false/)
      await first.stop('SIGKILL')
      await sleep(1_100)
      const reimaged = startAgent(side, 'web1', 'frontend/web/1')
      await reimaged.waitForLine(
        (l) => /attestation data has already been used to attest an agent/.test(JSON.stringify(l)),
        60_000,
        'the TOFU refusal',
      )
      assert.equal(reimaged.lines.filter(attested).length, 0)
      const refusal = side.server.lines.find(
        (l) => /already been used/.test(l.msg ?? '') && l.spiffe_id === spiffeId,
      )
      assert.ok(refusal, 'the plugin logged the refused agent ID')
      await reimaged.stop('SIGKILL')
    })
  },
)
