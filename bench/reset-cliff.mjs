#!/usr/bin/env node
// Issue 12's "connection cliff": many attestations of the test attestor (runtime only) through the
// host launcher, each stream reset right after its result as SPIRE's grpc-go client does (one
// RST_STREAM per attestation, never a half-close; shared/host/go-stream.ts). Prints one JSON line:
// attestations, concurrency, successes, failures and their first messages, the rate, and what the
// host's HTTP/2 connections saw (connections opened, GOAWAYs received by code, resets sent by code,
// streams retried after a refusal).
//
//   npm run build && node bench/reset-cliff.mjs [N=10000] [CONCURRENCY=256]
//
// Which Node runs which side is the point: the launcher runs on the `node` running this script; the
// plugin on PLUGIN_NODE when set (a node binary), else on the `node` first on PATH (the plugin's
// `#!/usr/bin/env node`). PLUGIN_BIN runs another build's test attestor (e.g. one without a fix)
// under this launcher. See docs/performance.md.
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const load = (p) => import(pathToFileURL(join(ROOT, 'dist', p)).href)
const { loadCrServer, CR_SECRET, CR_SERVER_MAIN } = await load('test/support/plugins.js')
const { serverAttest } = await load('shared/host/index.js')
const { challengeResponse } = await load('test/attestors/challenge-response/common.js')

const N = Number(process.argv[2] ?? 10_000)
const C = Number(process.argv[3] ?? 256)
const pluginNode = process.env.PLUGIN_NODE
const pluginBin = process.env.PLUGIN_BIN ?? CR_SERVER_MAIN
const server = await loadCrServer(
  pluginNode ? { command: pluginNode, args: [pluginBin] } : { command: pluginBin },
)
let next = 0
let ok = 0
let failed = 0
const errors = new Map()
async function worker() {
  for (;;) {
    const i = next++
    if (i >= N) return
    const identity = `node-${i}`
    try {
      await serverAttest(server, Buffer.from(JSON.stringify({ identity, selectors: [] })), {
        onChallenge: async (c) => challengeResponse(CR_SECRET, c, identity),
      })
      ok++
    } catch (e) {
      failed++
      const k = String(e.message).slice(0, 160)
      errors.set(k, (errors.get(k) ?? 0) + 1)
    }
  }
}
const started = performance.now()
await Promise.all(Array.from({ length: C }, worker))
const seconds = (performance.now() - started) / 1000
const pluginVersion = execFileSync(pluginNode ?? 'node', ['--version'], { encoding: 'utf8' }).trim()
console.log(
  JSON.stringify({
    attestations: N,
    concurrency: C,
    ok,
    failed,
    perSecond: Math.round(N / seconds),
    launcherNode: process.version,
    pluginNode: pluginVersion,
    transport: server.transport,
    errors: [...errors].slice(0, 3),
  }),
)
await server.close()
