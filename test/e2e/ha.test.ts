import assert from 'node:assert/strict'
import { X509Certificate, type KeyObject } from 'node:crypto'
import { connect } from 'node:http2'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { checkSvid, newAgentKey, parseBundle, type BundleCa } from '../../bench/agent-load-csr.js'
import {
  fleetSpec,
  FLEET_TENANT_DOMAIN,
  imdsSource,
  msiSource,
  type AgentSource,
  type SimAgent,
} from '../../bench/agent-load-fleet.js'
import { nodeAttestors, RATE_LIMIT_OFF } from '../../bench/agent-load-server.js'
import {
  attestAgent,
  closeConnection,
  openConnection,
  type ServerTarget,
} from '../../bench/agent-load-wire.js'
import { startEmulator, type Emulator } from '../azure-emulator/index.js'
import { IMDS_AGENT_MAIN, agentHcl as imdsAgentHcl } from '../support/azure-imds-plugins.js'
import { MSI_AGENT_MAIN, agentHclFor as msiAgentHcl } from '../support/azure-msi-plugins.js'
import { cellsOf, recordCells, recordSkippedCells } from '../support/matrix.js'
import { postgresAvailable, startPostgres, type Postgres } from '../support/postgres.js'
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
  type SpireProcess,
} from '../support/spire.js'

/**
 * SPIRE in HA (issue 13 §4): two spire-servers of one trust domain sharing a PostgreSQL datastore
 * (scripts/postgres.sh: Debian's PostgreSQL on loopback, run as an unprivileged user in a temporary
 * directory), each serving both of our server plugins against the Azure emulator, each with its own
 * in-memory CA keys published to the shared bundle. Real spire-agents (our agent plugins) attest
 * through either server; TOFU holds across servers through SPIRE's AgentStore, which reads the
 * shared datastore; each plugin's caches (keys, Azure reads, nonces) stay per server and hold no
 * TOFU state, so eviction on one server and re-attestation on the other stay correct; simultaneous
 * first attestations of one identity through both servers may both be admitted (SPIRE's TOFU is
 * check-then-record), yet the datastore keeps one agent with one active SVID; and a fleet boot (the
 * load generator's Agent API client, bench/agent-load-wire.ts, with the payloads our agent plugins
 * produce) survives server A's death mid-boot.
 */
const installed = ensureSpire()
// PostgreSQL is looked for (and installed where missing) only when SPIRE is there to use it
const pg = 'skip' in installed ? installed : postgresAvailable()
const skip = 'skip' in pg ? pg.skip : false
const spire = 'skip' in installed ? { server: '', agent: '' } : installed
const TD = E2E_TRUST_DOMAIN

/** The TOFU refusal as SPIRE's Agent API returns it: the plugin's message behind the facade prefix. */
const refusal = (attestor: string): string =>
  `rpc error: code = PermissionDenied desc = nodeattestor(${attestor}): attestation data has already been used to attest an agent`

/** A first attestation whose datastore writes collided with another server's (a unique index). */
const DUPLICATE =
  /^rpc error: code = Internal desc = failed to (create attested agent|update selectors): datastore-sql: .*duplicate key value violates unique constraint/

/** An attestation's outcome: the SVID's agent ID and serial number (decimal, as SPIRE records it), or the error. */
type Outcome =
  | { ok: true; id: string; serial: string; key: KeyObject; chain: Buffer[] }
  | { ok: false; error: string }

/** An outcome without the serial number, to compare with an expected one. */
const brief = (o: Outcome): { ok: true; id: string } | { ok: false; error: string } =>
  o.ok ? { ok: true, id: o.id } : o

// docs/compatibility.md's HA table (test/support/matrix.ts): the test that proves each scenario
const SUITE = `real SPIRE v${SPIRE_VERSION} in HA: two servers sharing a PostgreSQL datastore`
const CELLS = cellsOf({ table: 'ha', file: 'test/e2e/ha.test.ts', version: SPIRE_VERSION }, [
  ['either-server', 'result', 'real agents attest through either server'],
  ['tofu-across', 'result', 'an identity attested through server A is refused through server B'],
  ['killed-mid-boot', 'result', 'server A killed mid-boot'],
  ['evict-reattest', 'result', 'evicted on one server, re-attested on the other'],
  ['race', 'result', 'one identity attesting through A and B at once'],
])
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
    let db: Postgres
    let dir = ''
    const ports = { a: 0, b: 0 }
    const servers: Record<'a' | 'b', SpireProcess | undefined> = { a: undefined, b: undefined }
    const agents: SpireProcess[] = []
    let bundle: BundleCa[] = []
    let msi: AgentSource
    let imds: AgentSource
    // VM keys of the fleet world: vm-0/1 for the real agents, vm-2 for the cache test, flex/*
    // (azure_msi) and uni/* (azure_imds) for the fleet boot (the first BOOT) and the races (RACE more)
    const BOOT = 20
    const msiOrder = ['fleet/vm-0', 'fleet/vm-1', 'fleet/vm-2']
    const imdsOrder = ['fleet/vm-0', 'fleet/vm-1', 'fleet/vm-2']
    const RACE = 10
    for (let i = 0; i < BOOT + RACE; i++) {
      msiOrder.push(`fleet/flex/${i}`)
      imdsOrder.push(`fleet/uni/${i}`)
    }
    const sock = (s: 'a' | 'b'): string => serverSocket(dir, s)
    const target = (s: 'a' | 'b'): ServerTarget => ({
      address: `127.0.0.1:${ports[s]}`,
      trustDomain: TD,
      bundle,
    })

    before(async () => {
      if (skip) return
      emu = await startEmulator({
        world: fleetSpec({ standalone: 3, flexible: BOOT + RACE, uniform: BOOT + RACE }),
      })
      db = await startPostgres()
      dir = mkdtempSync(join(tmpdir(), 'e2e-ha'))
      const datastore = {
        databaseType: 'postgres' as const,
        connectionString: await db.createDatabase('spire_ha'),
        extra: 'max_open_conns = 20',
      }
      ports.a = await freePort()
      ports.b = await freePort()
      const nodeAttestor = nodeAttestors({
        serverBin: spire.server,
        attestors: ['azure_msi', 'azure_imds'],
        emu,
      })
      // one after the other: the first runs the schema migration
      for (const s of ['a', 'b'] as const) {
        const conf = spireServerConf({
          dir,
          name: s,
          port: ports[s],
          nodeAttestor,
          serverExtra: RATE_LIMIT_OFF,
          logLevel: 'INFO',
          datastore,
        })
        servers[s] = await startSpireServer(spire.server, dir, conf, {
          name: s,
          bundlePath: join(dir, `bundle-${s}.pem`),
        })
      }
      // B started last: the shared bundle it serves holds both servers' CAs
      bundle = parseBundle(readFileSync(join(dir, 'bundle-b.pem'), 'utf8'))
      msi = msiSource({ emu, order: msiOrder, trustDomain: TD })
      imds = imdsSource({ emu, order: imdsOrder, trustDomain: TD, perAttestation: false })
    })

    after(async () => {
      for (const a of agents) await a.stop('SIGKILL')
      for (const s of [servers.a, servers.b]) await s?.stop('SIGKILL')
      await emu?.stop()
      await db?.stop()
      if (dir) rmSync(dir, { recursive: true, force: true })
    })

    /** One first attestation on the Agent API, as spire-agent makes it (the load generator's client). */
    async function attest(s: 'a' | 'b', agent: SimAgent): Promise<Outcome> {
      const signal = AbortSignal.timeout(30_000)
      let session
      try {
        const key = newAgentKey()
        const payload = await agent.payload(signal)
        session = await openConnection(target(s), signal)
        const out = await attestAgent(session, {
          type: agent.attestor,
          payload,
          csr: key.csr,
          ...(agent.respond ? { respond: (c: Uint8Array) => agent.respond!(c, signal) } : {}),
          signal,
        })
        const id = checkSvid(out.certChain, key, { agentId: agent.agentId }, bundle)
        const serial = BigInt(`0x${new X509Certificate(out.certChain[0]!).serialNumber}`).toString()
        return { ok: true, id, serial, key: key.privateKey, chain: out.certChain }
      } catch (err) {
        return { ok: false, error: err instanceof Error ? err.message : String(err) }
      } finally {
        if (session) await closeConnection(session)
      }
    }

    /** Agent ID → its selectors, as server `s` lists them from the shared datastore. */
    async function agentsOn(s: 'a' | 'b'): Promise<Map<string, string[]>> {
      return new Map([...(await listAgents(s))].map(([id, a]) => [id, a.selectors]))
    }

    /** Agent ID → its selectors and the serial number of its one active SVID, from server `s`. */
    async function listAgents(
      s: 'a' | 'b',
    ): Promise<Map<string, { selectors: string[]; serial: string }>> {
      const res = await exec(
        spire.server,
        ['agent', 'list', '-socketPath', sock(s), '-output', 'json'],
        dir,
      )
      assert.equal(res.status, 0, res.stderr)
      const parsed = JSON.parse(res.stdout) as {
        agents?: {
          id: { trust_domain: string; path: string }
          selectors?: { type: string; value: string }[]
          x509svid_serial_number?: string
        }[]
      }
      return new Map(
        (parsed.agents ?? []).map((a) => [
          `spiffe://${a.id.trust_domain}${a.id.path}`,
          {
            selectors: (a.selectors ?? []).map((x) => `${x.type}:${x.value}`).sort(),
            serial: a.x509svid_serial_number ?? '',
          },
        ]),
      )
    }

    async function evict(s: 'a' | 'b', id: string): Promise<void> {
      const res = await exec(
        spire.server,
        ['agent', 'evict', '-socketPath', sock(s), '-spiffeID', id],
        dir,
      )
      assert.equal(res.status, 0, res.stderr + res.stdout)
    }

    /**
     * What server `s` answers an agent presenting this SVID (mTLS) on `Agent/RenewAgent` with empty
     * params: SPIRE's agent authorizer runs first (PermissionDenied unless the SVID's serial is the
     * one recorded for the agent); an authorized agent then fails on the missing params, so the
     * probe renews nothing.
     */
    function probeAgentSvid(
      s: 'a' | 'b',
      svid: { key: KeyObject; chain: Buffer[] },
    ): Promise<{ code: number; message: string }> {
      const pem = (der: Buffer): string => new X509Certificate(der).toString()
      return new Promise((resolve, reject) => {
        const session = connect(`https://127.0.0.1:${ports[s]}`, {
          key: svid.key.export({ type: 'pkcs8', format: 'pem' }),
          cert: svid.chain.map(pem).join(''),
          rejectUnauthorized: false, // the server's SVID is not what this probes
        })
        session.once('error', reject)
        const stream = session.request({
          ':method': 'POST',
          ':path': '/spire.api.server.agent.v1.Agent/RenewAgent',
          'content-type': 'application/grpc',
          te: 'trailers',
        })
        let status: { code: number; message: string } | undefined
        const read = (h: Record<string, unknown>): void => {
          if (h['grpc-status'] !== undefined)
            status = {
              code: Number(h['grpc-status']),
              message: decodeURIComponent(String(h['grpc-message'] ?? '')),
            }
        }
        stream.on('response', read)
        stream.on('trailers', read)
        stream.on('data', () => undefined)
        stream.on('error', reject)
        stream.on('close', () => {
          session.close()
          if (status) resolve(status)
          else reject(new Error('RenewAgent: no gRPC status'))
        })
        stream.end(Buffer.alloc(5)) // one uncompressed, empty RenewAgentRequest
      })
    }

    function realAgent(
      name: string,
      attestor: 'azure_msi' | 'azure_imds',
      vm: string,
      s: 'a' | 'b',
    ): SpireProcess {
      const nodeAttestor =
        attestor === 'azure_msi'
          ? { name: attestor, pluginCmd: MSI_AGENT_MAIN, pluginData: msiAgentHcl(emu, vm) }
          : {
              name: attestor,
              pluginCmd: IMDS_AGENT_MAIN,
              pluginData: imdsAgentHcl(emu, vm, FLEET_TENANT_DOMAIN),
            }
      const conf = spireAgentConf({
        dir,
        name,
        port: ports[s],
        nodeAttestor,
        trustBundle: join(dir, 'bundle-b.pem'),
      })
      const agent = startSpireAgent(spire.agent, dir, name, conf)
      agents.push(agent)
      return agent
    }

    test('PostgreSQL runs unprivileged on loopback; both servers use it and share one bundle', async () => {
      assert.notEqual(db.runAs, 'root')
      assert.equal(db.host, '127.0.0.1')
      const pid = Number(
        readFileSync(join(db.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0],
      )
      const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
      assert.notEqual(uid, '0')
      for (const s of ['a', 'b'] as const) {
        const connected = await servers[s]!.waitForLine(
          (l) => /Connected to SQL database/i.test(l.msg),
          10_000,
          `server ${s} on PostgreSQL`,
        )
        assert.equal(connected.type, 'postgres', JSON.stringify(connected))
      }
      // each server minted its own CA; both are in the bundle the shared datastore holds
      assert.equal(bundle.length, 2)
      assert.equal(parseBundle(readFileSync(join(dir, 'bundle-a.pem'), 'utf8')).length, 1)
    })

    test('real agents attest through either server, with both attestors; each server lists all four', async () => {
      const cases = [
        { name: 'msi-a', attestor: 'azure_msi', vm: 'fleet/vm-0', server: 'a' },
        { name: 'msi-b', attestor: 'azure_msi', vm: 'fleet/vm-1', server: 'b' },
        { name: 'imds-b', attestor: 'azure_imds', vm: 'fleet/vm-0', server: 'b' },
        { name: 'imds-a', attestor: 'azure_imds', vm: 'fleet/vm-1', server: 'a' },
      ] as const
      const ids = await Promise.all(
        cases.map(async (c) => {
          const agent = realAgent(c.name, c.attestor, c.vm, c.server)
          const ok = await agent.waitForLine(
            (l) => l.msg === 'Node attestation was successful',
            60_000,
            `${c.name}: node attestation`,
          )
          return String(ok.spiffe_id)
        }),
      )
      const sources = { azure_msi: msi, azure_imds: imds }
      cases.forEach((c, i) => {
        const index = (c.attestor === 'azure_msi' ? msiOrder : imdsOrder).indexOf(c.vm)
        assert.equal(ids[i], sources[c.attestor](index).agentId, c.name)
      })
      // the attesting server's plugin logged it; the other server knows it through the datastore
      for (const [i, c] of cases.entries()) {
        await servers[c.server]!.waitForLine(
          (l) => l.msg === 'Agent attested' && l.spiffe_id === ids[i],
          10_000,
          `${c.name} in server ${c.server}'s log`,
        )
      }
      for (const s of ['a', 'b'] as const) {
        const listed = await agentsOn(s)
        for (const [i, c] of cases.entries()) {
          const selectors = listed.get(ids[i]!)
          assert.ok(selectors, `${ids[i]} listed by server ${s}`)
          const vmName = c.vm.split('/')[1]!
          const expected =
            c.attestor === 'azure_msi'
              ? `azure_msi:vm-name:fleet:${vmName}`
              : `azure_imds:vm-name:${vmName}`
          assert.ok(selectors.includes(expected), `${expected} in ${selectors.join(' ')}`)
        }
      }
    })

    test('an identity attested through server A is refused through server B (TOFU across servers)', async () => {
      // real agents of the VMs attested through A above, now pointed at B
      const cases = [
        { name: 'msi-a-again', attestor: 'azure_msi', vm: 'fleet/vm-0' },
        { name: 'imds-a-again', attestor: 'azure_imds', vm: 'fleet/vm-1' },
      ] as const
      await Promise.all(
        cases.map(async (c) => {
          const agent = realAgent(c.name, c.attestor, c.vm, 'b')
          const line = await agent.waitForLine(
            (l) => JSON.stringify(l).includes('already been used'),
            60_000,
            `${c.name}: the TOFU refusal`,
          )
          assert.ok(
            JSON.stringify(line).includes(JSON.stringify(refusal(c.attestor)).slice(1, -1)),
            JSON.stringify(line),
          )
          await agent.stop('SIGKILL')
        }),
      )
      // the same through the Agent API directly: the exact status
      const viaB = await attest('b', msi(msiOrder.indexOf('fleet/vm-0')))
      assert.deepEqual(viaB, { ok: false, error: refusal('azure_msi') })
      const imdsViaB = await attest('b', imds(imdsOrder.indexOf('fleet/vm-1')))
      assert.deepEqual(imdsViaB, { ok: false, error: refusal('azure_imds') })
    })

    test("evicted on one server, re-attested on the other: both plugins' caches stay correct", async () => {
      for (const [attestor, source, order] of [
        ['azure_msi', msi, msiOrder],
        ['azure_imds', imds, imdsOrder],
      ] as const) {
        const agent = source(order.indexOf('fleet/vm-2'))
        const id = agent.agentId
        // 1. through A: A's plugin reads the keys/document chain and the VM from Azure, and caches them
        assert.deepEqual(brief(await attest('a', agent)), { ok: true, id }, attestor)
        const first = (await agentsOn('b')).get(id)
        assert.ok(first && first.length > 0, `${id} on B after attesting through A`)
        // 2. B's plugin refuses it: it asks AgentStore, i.e. the shared datastore
        assert.deepEqual(await attest('b', agent), { ok: false, error: refusal(attestor) })
        // 3. evicted through A; 4. re-attests through B, with the same selectors
        await evict('a', id)
        assert.equal((await agentsOn('b')).has(id), false)
        assert.deepEqual(brief(await attest('b', agent)), { ok: true, id }, attestor)
        assert.deepEqual((await agentsOn('a')).get(id), first)
        // 5. A's plugin, whose caches saw this VM attest, refuses it now: it holds no TOFU state
        assert.deepEqual(await attest('a', agent), { ok: false, error: refusal(attestor) })
        // 6. evicted through B, back through A (its Azure reads still cached): same selectors
        await evict('b', id)
        assert.deepEqual(brief(await attest('a', agent)), { ok: true, id }, attestor)
        assert.deepEqual((await agentsOn('b')).get(id), first)
      }
    })

    test('one identity attesting through A and B at once: one agent record, one active SVID, then TOFU refuses', async (t) => {
      // SPIRE's TOFU is check-then-record: each plugin asks AgentStore (NotFound for both when the
      // two attestations overlap), then SPIRE fetches the node again, signs, writes the selectors and
      // creates the node, or updates it if the other server created it meanwhile. So both may be
      // admitted; the datastore keeps one record whose serial is the last writer's, and SPIRE's
      // agent authorizer refuses any other SVID of that ID on its first call (AGENT_NOT_ACTIVE,
      // "expected to have serial number"). Where the writes collide, the datastore's unique
      // indexes fail one of them instead.
      const racers: SimAgent[] = []
      for (let i = BOOT; i < BOOT + RACE; i++)
        racers.push(
          msi(msiOrder.indexOf(`fleet/flex/${i}`)),
          imds(imdsOrder.indexOf(`fleet/uni/${i}`)),
        )
      const tally = { bothAdmitted: 0, tofu: 0, duplicate: 0 }
      const wrong: string[] = []
      const admitted = new Map<string, Extract<Outcome, { ok: true }>[]>()
      await Promise.all(
        racers.map(async (agent) => {
          const both = await Promise.all([attest('a', agent), attest('b', agent)])
          const svids: Extract<Outcome, { ok: true }>[] = []
          for (const o of both) {
            if (o.ok && o.id === agent.agentId) svids.push(o)
            else if (o.ok) wrong.push(`${agent.label}: admitted as ${o.id}`)
            else if (o.error === refusal(agent.attestor)) tally.tofu++
            else if (DUPLICATE.test(o.error)) tally.duplicate++
            else wrong.push(`${agent.label} (${agent.attestor}): ${o.error}`)
          }
          if (svids.length === 0) wrong.push(`${agent.label}: neither server admitted it`)
          if (svids.length === 2) tally.bothAdmitted++
          admitted.set(agent.agentId, svids)
        }),
      )
      t.diagnostic(
        `${racers.length} identities each attesting through A and B at once: both admitted ${tally.bothAdmitted} times ` +
          `(one SVID left inactive), the other refused by TOFU ${tally.tofu} times, by a datastore unique index ${tally.duplicate} times`,
      )
      assert.deepEqual(wrong, [])
      const listed = await listAgents('a')
      const inactive: string[] = []
      for (const agent of racers) {
        const record = listed.get(agent.agentId)
        assert.ok(record, `${agent.label} recorded`)
        const svids = admitted.get(agent.agentId)!
        // the one active SVID is one of those the racers got; each server refuses any other
        assert.ok(
          svids.some((v) => v.serial === record.serial),
          agent.label,
        )
        for (const svid of svids)
          for (const s of ['a', 'b'] as const) {
            const answer = await probeAgentSvid(s, svid)
            if (svid.serial === record.serial)
              assert.deepEqual(answer, { code: 3, message: 'params cannot be nil' }, agent.label)
            else {
              assert.deepEqual(
                answer,
                {
                  code: 7,
                  message:
                    'authorization denied for method /spire.api.server.agent.v1.Agent/RenewAgent',
                },
                agent.label,
              )
              // why, in the server's log: the serial is not the one recorded for the agent
              const why = await servers[s]!.waitForLine(
                (l) => l.msg === 'Agent SVID is not active' && l.svid_serial_num === svid.serial,
                10_000,
                `server ${s} refusing ${agent.label}'s inactive SVID`,
              )
              assert.equal(why.serial_num, record.serial)
              inactive.push(`${agent.label}@${s}`)
            }
          }
      }
      assert.equal(inactive.length, 2 * tally.bothAdmitted)
      // once recorded, TOFU refuses every later attempt, through either server
      for (const agent of racers.slice(0, 2))
        for (const s of ['a', 'b'] as const)
          assert.deepEqual(await attest(s, agent), { ok: false, error: refusal(agent.attestor) })
    })

    test('server A killed mid-boot: every agent ends attested; those A recorded are refused by B with the exact reason until evicted', async (t) => {
      // the fleet boots against A: agents flex/* (azure_msi) and uni/* (azure_imds), 12 at a time
      const fleet: SimAgent[] = []
      for (let i = 0; i < BOOT; i++) {
        fleet.push(
          msi(msiOrder.indexOf(`fleet/flex/${i}`)),
          imds(imdsOrder.indexOf(`fleet/uni/${i}`)),
        )
      }
      const onA = new Map<number, Outcome>()
      let next = 0
      let okOnA = 0
      let killing: Promise<unknown> | undefined
      let inFlightAtKill = 0
      let inFlight = 0
      const KILL_AFTER = 6
      const worker = async (): Promise<void> => {
        while (killing === undefined && next < fleet.length) {
          const i = next++
          inFlight++
          const out = await attest('a', fleet[i]!)
          inFlight--
          onA.set(i, out)
          if (out.ok && ++okOnA === KILL_AFTER && killing === undefined) {
            inFlightAtKill = inFlight
            killing = servers.a!.stop('SIGKILL')
          }
        }
      }
      await Promise.all(Array.from({ length: 12 }, worker))
      await killing
      assert.ok(killing, 'A was killed')
      // agents that never got an SVID from A (in flight, refused by the dying server, or not started),
      // and two A attested whose VMs crashed before the agent kept its SVID
      const kept = fleet.flatMap((_, i) => (onA.get(i)?.ok ? [i] : []))
      const lost = kept.slice(0, 2)
      const pending = fleet.flatMap((_, i) => (onA.get(i)?.ok && !lost.includes(i) ? [] : [i]))
      // what A had recorded before it died, as the datastore holds it
      const recorded = await agentsOn('b')
      for (const i of kept)
        assert.ok(recorded.has(fleet[i]!.agentId), `${fleet[i]!.label} recorded`)
      const mismatches: string[] = []
      let refusedThenEvicted = 0
      let recordedButUnanswered = 0
      const queue = [...pending]
      await Promise.all(
        Array.from({ length: 6 }, async () => {
          for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
            const agent = fleet[i]!
            const first = await attest('b', agent)
            if (recorded.has(agent.agentId)) {
              if (!lost.includes(i)) recordedButUnanswered++
              if (first.ok || first.error !== refusal(agent.attestor)) {
                mismatches.push(
                  `${agent.label} (${agent.attestor}, recorded by A): ${JSON.stringify(first)}`,
                )
                continue
              }
              await evict('b', agent.agentId)
              refusedThenEvicted++
              const again = await attest('b', agent)
              if (!again.ok) mismatches.push(`${agent.label} after evict: ${again.error}`)
            } else if (!first.ok || first.id !== agent.agentId) {
              mismatches.push(`${agent.label} (${agent.attestor}): ${JSON.stringify(first)}`)
            }
          }
        }),
      )
      t.diagnostic(
        `fleet ${fleet.length}: ${kept.length} attested through A before it was killed (${inFlightAtKill} others in flight at the kill), ` +
          `${pending.length} went to B; ${refusedThenEvicted} refused as already attested then attested after evict ` +
          `(${lost.length} whose SVID was lost, ${recordedButUnanswered} that A recorded but never answered)`,
      )
      assert.deepEqual(mismatches, [])
      assert.ok(pending.length > lost.length, 'some agents had not finished when A died')
      assert.ok(refusedThenEvicted >= lost.length)
      const final = await agentsOn('b')
      for (const a of fleet) assert.ok(final.has(a.agentId), `${a.label} (${a.attestor}) attested`)
    })
  },
)
