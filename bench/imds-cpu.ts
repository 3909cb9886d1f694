#!/usr/bin/env node
// azure_imds server CPU per warm attestation (issue #12, deliverable 2), two ways:
//
// - launcher: the real plugin executables through the host launcher against the Azure emulator,
//   `--streams` attestations in flight; the server plugin's CPU is read from /proc/<pid>/stat
//   (user + system, every thread) around the measured run, divided by the attestations done.
//   Each `--variant label=serverBin[,agentBin]` is measured in turn, `--rounds` times, alternating,
//   so a before/after pair shares the machine's state; `label=null:serverBin,agentBin` runs the
//   test challenge–response attestor instead (dist/test-bin cr-test-*), the runtime's own floor, e.g.
//   `--variant null=null:dist/test-bin/cr-test-server`; `label=msi:serverBin[,agentBin]` runs
//   azure_msi (VM frontend/blog's token) the same way. `--cpu-prof DIR` profiles the server plugin. Each
//   round is a fresh emulator and plugin pair.
// - inproc: the attestor module alone (createAttestor with in-memory fakes, the emulator's PKI, a
//   fixed clock) in a loop over pre-signed documents: what the attestor itself costs per call, no
//   gRPC. Run it under `node --cpu-prof` to profile the verification path.
//
// Usage:
//   node dist/bench/imds-cpu.js launcher [--variant L=SERVER[,AGENT]]... [--count 2000]
//        [--streams 16] [--warmup 200] [--rounds 1] [--cpu-prof DIR] [--out FILE]
//   node dist/bench/imds-cpu.js inproc [--count 5000] [--warmup 500] [--out FILE]
// Heavy: run under `flock /tmp/spire-azure-bench.lock`.
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { benchMachine } from './machine.js'
import { attestAgentToServer, PluginProcess } from '../shared/host/index.js'
import { startEmulator } from '../test/azure-emulator/index.js'
import {
  agentHcl,
  IMDS_AGENT_MAIN,
  IMDS_SERVER_MAIN,
  serverHcl,
  tenantHcl,
} from '../test/support/azure-imds-plugins.js'
import {
  agentHclFor as msiAgentHcl,
  MSI_AGENT_MAIN,
  serverHclFor as msiServerHcl,
} from '../test/support/azure-msi-plugins.js'
import { CR_AGENT_MAIN, CR_SECRET } from '../test/support/plugins.js'

/** How long the server is watched idle after a round (10 ms CPU resolution: long enough to see ~1%). */
const IDLE_WINDOW_MS = 3000
/** Linux USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const TICKS_PER_SECOND = 100

/** User + system CPU of a process, every thread included, in milliseconds (10 ms resolution). */
export function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // fields after the parenthesised command name; utime and stime are fields 14 and 15
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / TICKS_PER_SECOND
}

function procStatusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 'NaN') / 1024
}

interface Variant {
  label: string
  /** `null`: the test challenge–response attestor (dist/test-bin), the runtime's own floor. */
  kind: 'imds' | 'null' | 'msi'
  server: string
  agent: string
}

export interface LauncherRound {
  label: string
  round: number
  count: number
  streams: number
  failures: number
  firstFailure?: string
  wallMs: number
  attestationsPerSecond: number
  serverCpuMsPerAttestation: number
  /** The server's CPU over an idle window after the run, per second: its background cost. */
  serverIdleCpuMsPerSecond: number
  agentCpuMsPerAttestation: number
  serverRssMb: number
  serverPeakRssMb: number
}

async function runLauncher(
  v: Variant,
  round: number,
  opts: { count: number; streams: number; warmup: number; cpuProf?: string },
): Promise<LauncherRound> {
  const emu = await startEmulator()
  const procs: PluginProcess[] = []
  try {
    // node refuses --cpu-prof in NODE_OPTIONS: run the bundle under node with the flag instead
    const launch =
      opts.cpuProf === undefined
        ? { command: v.server }
        : {
            command: process.execPath,
            args: ['--cpu-prof', `--cpu-prof-dir=${resolve(opts.cpuProf)}`, v.server],
          }
    const name = { imds: 'azure_imds', msi: 'azure_msi', null: 'cr_test' }[v.kind]
    const hcl = {
      imds: () => ({
        server: serverHcl(emu, tenantHcl(emu, 'contoso')),
        agent: agentHcl(emu, 'frontend/blog'),
      }),
      msi: () => ({
        server: msiServerHcl(emu, [{ tenant: 'contoso' }]),
        agent: msiAgentHcl(emu, 'frontend/blog'),
      }),
      null: () => ({
        server: `secret = "${CR_SECRET}"`,
        agent: `secret = "${CR_SECRET}"\nidentity = "n"\nselectors = ["rack:r1"]`,
      }),
    }[v.kind]()
    const server = await PluginProcess.load({ ...launch, name, side: 'server', hcl: hcl.server })
    procs.push(server)
    const agent = await PluginProcess.load({
      command: v.agent,
      name,
      side: 'agent',
      hcl: hcl.agent,
    })
    procs.push(agent)
    let failures = 0
    let firstFailure: string | undefined
    const batch = async (n: number): Promise<void> => {
      let next = 0
      const worker = async (): Promise<void> => {
        while (next < n) {
          next++
          try {
            await attestAgentToServer(agent, server)
          } catch (err) {
            failures++
            firstFailure ??= err instanceof Error ? err.message : String(err)
          }
        }
      }
      await Promise.all(Array.from({ length: opts.streams }, worker))
    }
    await attestAgentToServer(agent, server) // cold: JWKS, token, ARM reads, AIA
    await batch(opts.warmup)
    failures = 0
    firstFailure = undefined
    const serverPid = server.pid!
    const agentPid = agent.pid!
    const s0 = procCpuMs(serverPid)
    const a0 = procCpuMs(agentPid)
    const t0 = performance.now()
    await batch(opts.count)
    const wallMs = performance.now() - t0
    const serverCpu = procCpuMs(serverPid) - s0
    const agentCpu = procCpuMs(agentPid) - a0
    // what the server burns with nothing to do (timers, GC), to tell it from per-attestation work
    const i0 = procCpuMs(serverPid)
    await new Promise((r) => setTimeout(r, IDLE_WINDOW_MS))
    const idleCpuMsPerSecond = ((procCpuMs(serverPid) - i0) * 1000) / IDLE_WINDOW_MS
    const done = opts.count - failures
    const r: LauncherRound = {
      label: v.label,
      round,
      count: opts.count,
      streams: opts.streams,
      failures,
      ...(firstFailure === undefined ? {} : { firstFailure }),
      wallMs,
      attestationsPerSecond: (done * 1000) / wallMs,
      serverCpuMsPerAttestation: serverCpu / Math.max(1, done),
      serverIdleCpuMsPerSecond: idleCpuMsPerSecond,
      agentCpuMsPerAttestation: agentCpu / Math.max(1, done),
      serverRssMb: procStatusMb(serverPid, 'VmRSS'),
      serverPeakRssMb: procStatusMb(serverPid, 'VmHWM'),
    }
    process.stderr.write(
      `${v.label} round ${round}: ${r.attestationsPerSecond.toFixed(0)}/s, server ${r.serverCpuMsPerAttestation.toFixed(3)} ms CPU/attestation (idle ${r.serverIdleCpuMsPerSecond.toFixed(0)} ms/s), agent ${r.agentCpuMsPerAttestation.toFixed(3)} ms, RSS ${r.serverRssMb.toFixed(0)} MB (peak ${r.serverPeakRssMb.toFixed(0)}), ${failures} failed\n`,
    )
    return r
  } finally {
    for (const p of procs.reverse()) await p.close()
    await emu.stop()
  }
}

export interface InprocResult {
  count: number
  cpuMsPerAttestation: number
  /** The cryptographic floor measured the same way: one document signature + two chain links. */
  cryptoFloorMs: number
}

async function runInproc(count: number, warmup: number): Promise<InprocResult> {
  const { createVerify, X509Certificate } = await import('node:crypto')
  const { createAttestor } = await import('../server-plugin/azure-imds/attestor.js')
  const { NonceRegistry } = await import('../server-plugin/azure-imds/nonce.js')
  const support = await import('../test/support/azure-imds.js')
  const pkiSupport = await import('../test/server-plugin/azure-imds/pki-support.js')
  const pki = await pkiSupport.testPki()
  // pre-signed documents, one per nonce the registry hands out, so signing stays out of the loop
  const POOL = 64
  const nonces = Array.from({ length: POOL }, (_, i) => `bench${String(i).padStart(27, '0')}`)
  const payloads = new Map(
    nonces.map((n) => [
      n,
      support.payloadOf(pkiSupport.sign({ signer: pki.leaves.public, nonce: n }), {
        resourceId: support.ids.vm(pkiSupport.SUBSCRIPTION_ID, 'Frontend', 'blog'),
      }),
    ]),
  )
  let turn = 0
  const { pool } = pkiSupport.poolFor(pki)
  const now = () => pkiSupport.NOW.getTime()
  const roots = [pkiSupport.cert(pki.roots.tlsRsaRootG2.cert)] // parsed once, as production does
  const deps = support.imdsTestDeps({
    now,
    roots: async () => roots,
    intermediates: () => pool,
    nonces: new NonceRegistry({ now, generate: () => nonces[turn++ % POOL]! }),
  })
  deps.azure.subscriptions.set(pkiSupport.SUBSCRIPTION_ID, support.TENANT_ID)
  deps.azure.addVm({
    sub: pkiSupport.SUBSCRIPTION_ID,
    rg: 'Frontend',
    name: 'blog',
    vmId: pkiSupport.VM_ID,
    tags: { environment: 'production' },
  })
  const config = support.serverConfig(
    `tenants = { "${support.TENANT_DOMAIN}" = { tenant_id = "${support.TENANT_ID}" } }`,
  )
  const attestor = createAttestor(deps)
  const { io } = support.agentIo((nonce) => payloads.get(nonce)!)
  const once = () => attestor.attest(Buffer.from('x'), config, io)
  for (let i = 0; i < warmup; i++) await once()
  const c0 = process.cpuUsage()
  for (let i = 0; i < count; i++) await once()
  const c = process.cpuUsage(c0)
  // the floor: what node:crypto needs for the same document and chain
  const doc = pkiSupport.sign({ signer: pki.leaves.public })
  const leaf = new X509Certificate(pki.leaves.public.cert.der)
  const inter = new X509Certificate(pki.intermediates.tlsG2Ocsp02.cert.der)
  const root = new X509Certificate(pki.roots.tlsRsaRootG2.cert.der)
  const content = Buffer.from(doc.signature.slice(0, 400)) // the signed JSON's size
  const sig = Buffer.alloc(256, 1) // a wrong signature costs the same RSA operation
  const leafKey = leaf.publicKey
  const interKey = inter.publicKey
  const rootKey = root.publicKey
  const f0 = process.cpuUsage()
  for (let i = 0; i < count; i++) {
    createVerify('sha256').update(content).verify(leafKey, sig)
    leaf.verify(interKey)
    inter.verify(rootKey)
  }
  const f = process.cpuUsage(f0)
  const r: InprocResult = {
    count,
    cpuMsPerAttestation: (c.user + c.system) / 1000 / count,
    cryptoFloorMs: (f.user + f.system) / 1000 / count,
  }
  process.stderr.write(
    `inproc: ${r.cpuMsPerAttestation.toFixed(3)} ms CPU per attest() call; crypto floor ${r.cryptoFloorMs.toFixed(3)} ms\n`,
  )
  return r
}

async function main(): Promise<void> {
  const { values: args, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      variant: { type: 'string', multiple: true },
      count: { type: 'string' },
      streams: { type: 'string', default: '16' },
      warmup: { type: 'string' },
      rounds: { type: 'string', default: '1' },
      'cpu-prof': { type: 'string' },
      out: { type: 'string' },
    },
  })
  const mode = positionals[0] ?? 'launcher'
  const int = (s: string | undefined, d: number): number => {
    const n = Number(s ?? d)
    if (!Number.isInteger(n) || n < 0) throw new Error(`not a count: ${s}`)
    return n
  }
  const started = new Date().toISOString()
  let result: unknown
  if (mode === 'inproc') {
    result = await runInproc(int(args.count, 5000), int(args.warmup, 500))
  } else if (mode === 'launcher') {
    const variants: Variant[] = (args.variant ?? [`current=${IMDS_SERVER_MAIN}`]).map((v) => {
      const [label, spec] = v.split('=', 2) as [string, string | undefined]
      const kind = /^(null|msi):/.exec(spec ?? '')?.[1] ?? 'imds'
      const [server, agent] = (spec ?? '').replace(/^(null|msi):/, '').split(',')
      if (!server)
        throw new Error(`--variant ${v}: expected label=[null:|msi:]serverBin[,agentBin]`)
      const defaultAgent = { null: CR_AGENT_MAIN, msi: MSI_AGENT_MAIN, imds: IMDS_AGENT_MAIN }[
        kind as Variant['kind']
      ]
      return {
        label,
        kind: kind as Variant['kind'],
        server: resolve(server),
        agent: resolve(agent || defaultAgent),
      }
    })
    const rounds: LauncherRound[] = []
    const opts = {
      count: int(args.count, 2000),
      streams: int(args.streams, 16),
      warmup: int(args.warmup, 200),
      ...(args['cpu-prof'] === undefined ? {} : { cpuProf: args['cpu-prof'] }),
    }
    for (let round = 1; round <= int(args.rounds, 1); round++) {
      for (const v of variants) rounds.push(await runLauncher(v, round, opts))
    }
    result = { ...opts, rounds }
  } else {
    throw new Error(`unknown mode ${mode} (launcher | inproc)`)
  }
  const json = {
    command: `node dist/bench/imds-cpu.js ${process.argv.slice(2).join(' ')}`,
    date: started,
    machine: benchMachine(),
    mode,
    result,
  }
  const text = JSON.stringify(json, null, 2) + '\n'
  if (args.out !== undefined) {
    mkdirSync(dirname(resolve(args.out)), { recursive: true })
    writeFileSync(resolve(args.out), text)
  }
  process.stdout.write(text)
}

await main()
