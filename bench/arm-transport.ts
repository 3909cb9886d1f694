#!/usr/bin/env node
// The ARM transport comparison (issue 10): one azure_msi server executable — whichever build
// `--bin-dir` points at — measured the same way against the emulator: cold start (CPU to the
// handshake), first attestation (cold credential, keys and ARM), RSS after N warm attestations,
// and what it does under ARM 429 and 5xx (requests made, outcome).
//
//   node dist/bench/arm-transport.js --bin-dir DIR [--label L] [--runs 10000] [--out FILE]
//
// Each transport lives in its own build (git worktree); docs/performance.md has the table.
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { attestAgentToServer, PluginProcess } from '../shared/host/index.js'
import { startEmulator, type Emulator } from '../test/azure-emulator/index.js'
import { agentHclFor, serverHclFor } from '../test/support/azure-msi-plugins.js'
import { PLUGIN_BIN_DIR } from '../test/support/paths.js'
import { measureHandshake, median } from './startup.js'

const rssMb = (pid: number | undefined): number =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 'NaN') / 1024

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      'bin-dir': { type: 'string' },
      label: { type: 'string' },
      runs: { type: 'string', default: '10000' },
      out: { type: 'string' },
    },
  })
  const binDir = resolve(args['bin-dir'] ?? PLUGIN_BIN_DIR)
  const serverCmd = join(binDir, 'spire-server-nodeattestor-azure-msi')
  // the agent is not under test: this build's, for every variant
  const agentCmd = join(PLUGIN_BIN_DIR, 'spire-agent-nodeattestor-azure-msi')
  const runs = Number(args.runs)
  const emu = await startEmulator()
  const open: PluginProcess[] = []
  const load = async (side: 'server' | 'agent', hcl: string): Promise<PluginProcess> => {
    const p = await PluginProcess.load({
      command: side === 'server' ? serverCmd : agentCmd,
      name: 'azure_msi',
      side,
      hcl,
    })
    open.push(p)
    return p
  }
  const serverHcl = serverHclFor(emu, [{ tenant: 'contoso' }])
  try {
    await measureHandshake(serverCmd)
    const starts = []
    for (let i = 0; i < 9; i++) starts.push(await measureHandshake(serverCmd))

    const agent = await load('agent', agentHclFor(emu, 'frontend/blog'))
    const firsts: number[] = []
    for (let i = 0; i < 3; i++) {
      const server = await load('server', serverHcl)
      const t0 = performance.now()
      await attestAgentToServer(agent, server)
      firsts.push(performance.now() - t0)
    }

    const server = await load('server', serverHcl)
    for (let i = 0; i < runs; i++) await attestAgentToServer(agent, server)
    const rssAfter = rssMb(server.pid)

    const faults = {
      throttledOnce: await underFault(emu, load, serverHcl, agent, 'arm.vm.get', {
        kind: 'throttle',
        retryAfterS: 1,
      }),
      serverErrorOnce: await underFault(emu, load, serverHcl, agent, 'arm.vm.get', {
        kind: 'status',
        status: 500,
      }),
      throttledLong: await underFault(
        emu,
        load,
        serverHcl,
        agent,
        'arm.*',
        { kind: 'throttle', retryAfterS: 120 },
        Number.POSITIVE_INFINITY,
      ),
    }
    const result = {
      label: args.label ?? binDir,
      bundleBytes: readFileSync(serverCmd).length,
      coldStartCpuMsMedian: median(starts.map((s) => s.cpuMs)),
      coldStartWallMsMedian: median(starts.map((s) => s.wallMs)),
      firstAttestationMsMedian: median(firsts),
      warmAttestations: runs,
      rssMbAfterWarm: rssAfter,
      faults,
    }
    const text = JSON.stringify(result)
    if (args.out !== undefined) writeFileSync(args.out, text + '\n')
    process.stdout.write(text + '\n')
  } finally {
    await Promise.all(open.map((p) => p.close().catch(() => undefined)))
    await emu.stop()
  }
}

/** A fresh server attesting once while `route` answers with `fault` (`times` times). */
async function underFault(
  emu: Emulator,
  load: (side: 'server', hcl: string) => Promise<PluginProcess>,
  hcl: string,
  agent: PluginProcess,
  route: string,
  fault: Parameters<Emulator['faults']['set']>[1],
  times = 1,
): Promise<{ outcome: string; armRequests: number; earlyRetries: number }> {
  const server = await load('server', hcl)
  emu.faults.clear()
  emu.faults.set(route, fault, { times })
  const before = emu.counters.get('arm.*')
  let outcome = 'ok'
  try {
    await attestAgentToServer(agent, server)
  } catch (err) {
    outcome = `refused: ${(err as Error).message.slice(0, 120)}`
  }
  const result = {
    outcome,
    armRequests: emu.counters.get('arm.*') - before,
    earlyRetries: emu.faults.earlyRetries.length,
  }
  emu.faults.clear()
  return result
}

await main()
