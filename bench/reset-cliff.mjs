#!/usr/bin/env node
// Issue 12's "connection cliff": many attestations through the host launcher, each stream cancelled
// right after its result (as the launcher and SPIRE do), against the test attestor (runtime only).
// Prints one JSON line: attestations, concurrency, successes, failures and their first messages.
//
//   npm run build && node bench/reset-cliff.mjs [N=10000] [CONCURRENCY=256]
//
// Which Node runs which side is the point: the launcher runs on the `node` running this script; the
// plugin on the `node` first on PATH (its `#!/usr/bin/env node`). See docs/performance.md.
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const load = (p) => import(pathToFileURL(join(ROOT, 'dist', p)).href)
const { loadCrServer, CR_SECRET } = await load('test/support/plugins.js')
const { serverAttest } = await load('shared/host/index.js')
const { challengeResponse } = await load('test/attestors/challenge-response/common.js')

const N = Number(process.argv[2] ?? 10_000)
const C = Number(process.argv[3] ?? 256)
const server = await loadCrServer()
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
      const k = String(e.message).slice(0, 100)
      errors.set(k, (errors.get(k) ?? 0) + 1)
    }
  }
}
await Promise.all(Array.from({ length: C }, worker))
const plugin = (await import('node:child_process'))
  .execSync('node --version', { encoding: 'utf8' })
  .trim()
console.log(
  JSON.stringify({
    attestations: N,
    concurrency: C,
    ok,
    failed,
    launcherNode: process.version,
    pluginNode: plugin,
    errors: [...errors].slice(0, 3),
  }),
)
await server.close()
