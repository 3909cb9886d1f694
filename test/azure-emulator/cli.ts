#!/usr/bin/env node
// Standalone emulator: `npm run emulator -- [--world file.json] [--box] [--now ISO] [--throttling]
// [--default-vm rg/name] [--port-imds N --port-entra N --port-arm N --port-issuers N]
// [--write-env FILE [--run-dir DIR]]`. --write-env writes the variables the emulator example
// configs expand (examples/README.md).
// Prints exactly one JSON document (one line: endpoints, CA file, tenants, VMs) on stdout and nothing
// else, so `npm run --silent emulator > info.json` is valid JSON; diagnostics go to stderr. Runs until
// SIGINT/SIGTERM (npm forwards both to it: the npm script `exec`s node), or until its parent dies,
// then closes its listeners and removes its CA folder.
import { readFileSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { AZURE_HOST_NAMES } from './clouds.js'
import { exampleEnv, formatEnvFile, writeExampleFiles } from './env.js'
import { startEmulator } from './index.js'
import type { EmulatorOptions } from './index.js'
import type { WorldSpec } from './world-spec.js'

const MAX_LISTED_INSTANCES = 3
const PARENT_CHECK_MS = 500

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      world: { type: 'string' },
      box: { type: 'boolean', default: false },
      now: { type: 'string' },
      throttling: { type: 'boolean', default: false },
      'default-vm': { type: 'string' },
      'port-imds': { type: 'string' },
      'port-entra': { type: 'string' },
      'port-arm': { type: 'string' },
      'port-issuers': { type: 'string' },
      // not `--env-file`: Node 20 takes that flag from anywhere on its command line
      'write-env': { type: 'string' },
      'run-dir': { type: 'string' },
    },
  })
  const options: EmulatorOptions = {
    mode: values.box ? 'box' : 'loopback',
    throttling: values.throttling ?? false,
    ports: {
      imds: Number(values['port-imds'] ?? 0),
      entra: Number(values['port-entra'] ?? 0),
      arm: Number(values['port-arm'] ?? 0),
      issuers: Number(values['port-issuers'] ?? 0),
    },
  }
  if (values.world) options.world = JSON.parse(readFileSync(values.world, 'utf8')) as WorldSpec
  if (values.now) options.now = new Date(values.now)
  if (values['default-vm']) options.defaultVm = values['default-vm']
  const emu = await startEmulator(options)
  const { imdsFor: _imdsFor, caCertPem: _pem, ...endpoints } = emu.endpoints
  const summary = {
    pid: process.pid,
    mode: options.mode,
    ...endpoints,
    hostNames: AZURE_HOST_NAMES,
    defaultVm:
      emu.world.findVm(options.defaultVm ?? '')?.key ?? [...emu.world.standaloneVms()][0]?.key,
    tenants: emu.world.tenants.map((t) => ({
      name: t.name,
      tenantId: t.tenantId,
      domains: t.domains,
      cloud: t.cloud.name,
      apps: t.apps.map((a) => ({ name: a.name, clientId: a.clientId, secret: a.secret })),
      subscriptions: t.subscriptions.map((s) => ({
        name: s.name,
        subscriptionId: s.subscriptionId,
      })),
    })),
    vms: [...emu.world.standaloneVms()].map((v) => v.key),
    scaleSets: [...emu.world.scaleSets()].map((s) => ({
      key: `${s.resourceGroup.name}/${s.name}`,
      orchestrationMode: s.orchestrationMode,
      capacity: s.capacity,
      firstInstances: [...Array(Math.min(s.capacity, MAX_LISTED_INSTANCES)).keys()].map(
        (i) => s.instance(i).key,
      ),
    })),
  }
  if (values['write-env'] !== undefined) {
    // the variables examples/*/emulator-*.conf expand (spire-server/agent run -expandEnv)
    const env = exampleEnv(
      emu,
      values['run-dir'] === undefined ? {} : { runDir: values['run-dir'] },
    )
    writeExampleFiles(emu, env)
    writeFileSync(values['write-env'], formatEnvFile(env), { mode: 0o600 })
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`)
  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    emu.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  process.on('SIGHUP', stop)
  // A parent killed without forwarding a signal (SIGKILL to npm) leaves us re-parented: stop then too.
  const parent = process.ppid
  setInterval(() => {
    if (process.ppid !== parent) stop()
  }, PARENT_CHECK_MS).unref()
}

main().catch((err: unknown) => {
  process.stderr.write(`azure-emulator: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
