// The emulator's documented limits (docs/azure-emulator.md §5.3) on an injected clock: ARM reads as a
// token bucket of 250 refilled at 25/s per subscription, Resource Graph at 15 queries per 5 s per
// principal with its quota headers, and Resource Graph's lag for freshly created VMs.
import assert from 'node:assert/strict'
import { after, before, beforeEach, test } from 'node:test'
import { startEmulator } from './index.js'
import type { Emulator } from './index.js'
import { fetchRaw } from './test-helpers.js'

const clock = { t: Date.UTC(2026, 11, 2, 6, 0, 0) }
let emu: Emulator
let token: string
let subId: string
let vmPath: string

before(async () => {
  emu = await startEmulator({ now: () => new Date(clock.t), throttling: true })
  token = (await emu.tokens.issueAppToken({ tenant: 'contoso' })).token
  subId = emu.world.subscription('prod').subscriptionId
  vmPath = `${emu.world.vm('frontend/blog').id}?api-version=2024-07-01`
})
after(async () => {
  assert.deepEqual(emu.errors, [])
  await emu.stop()
})
beforeEach(() => {
  clock.t += 60_000
  emu.throttling.reset()
  emu.resourceGraph.reset()
})

const get = (path: string) =>
  fetchRaw(`${emu.endpoints.arm}${path}`, {
    ca: emu.endpoints.caCertPem,
    headers: { authorization: `Bearer ${token}` },
  })
const graph = (query: string) =>
  fetchRaw(
    `${emu.endpoints.arm}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01`,
    {
      ca: emu.endpoints.caCertPem,
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ subscriptions: [subId], query }),
    },
  )

test('ARM: 250 reads per subscription, then 429 with Retry-After; 25 more per second', async () => {
  const remaining: string[] = []
  for (let i = 0; i < 250; i++) {
    const r = await get(vmPath)
    assert.equal(r.status, 200)
    remaining.push(String(r.headers['x-ms-ratelimit-remaining-subscription-reads']))
  }
  assert.deepEqual(remaining.slice(0, 2), ['249', '248'])
  assert.equal(remaining.at(-1), '0')
  const throttled = await get(vmPath)
  assert.equal(throttled.status, 429)
  assert.equal(throttled.headers['retry-after'], '1')
  assert.equal(throttled.json<{ error: { code: string } }>().error.code, 'TooManyRequests')
  clock.t += 1_000
  const statuses: number[] = []
  for (let i = 0; i < 26; i++) statuses.push((await get(vmPath)).status)
  assert.deepEqual(statuses, [...Array<number>(25).fill(200), 429])
})

test('Resource Graph: 15 queries per 5 s per principal, with x-ms-user-quota-* headers', async () => {
  const q = "resources | where type =~ 'microsoft.compute/virtualmachines' | count"
  const seen: [string, string][] = []
  for (let i = 0; i < 15; i++) {
    const r = await graph(q)
    assert.equal(r.status, 200)
    seen.push([
      String(r.headers['x-ms-user-quota-remaining']),
      String(r.headers['x-ms-user-quota-resets-after']),
    ])
  }
  assert.deepEqual(seen[0], ['14', '00:00:05'])
  assert.deepEqual(seen.at(-1), ['0', '00:00:05'])
  clock.t += 2_000
  const throttled = await graph(q)
  assert.equal(throttled.status, 429)
  assert.equal(throttled.headers['retry-after'], '3')
  assert.equal(throttled.headers['x-ms-user-quota-remaining'], '0')
  assert.equal(throttled.headers['x-ms-user-quota-resets-after'], '00:00:03')
  clock.t += 3_000
  assert.equal((await graph(q)).status, 200)
  // ARM reads are a separate budget
  assert.equal((await get(vmPath)).status, 200)
})

test('Resource Graph lag: a fresh VM and its NIC are missing from Resource Graph, ARM GET finds it', async () => {
  const vm = emu.world.vm('frontend/blog')
  const q =
    `resources | where id =~ '${vm.id}' or tostring(properties.virtualMachine.id) =~ '${vm.id}' ` +
    '| project id, type'
  const rows = async () => (await graph(q)).json<{ data: unknown[] }>().data.length
  assert.equal(await rows(), 2, 'no lag by default')
  emu.resourceGraph.setLag(60)
  emu.resourceGraph.created('frontend/blog')
  assert.equal(await rows(), 0)
  assert.equal((await get(vmPath)).status, 200)
  clock.t += 59_000
  assert.equal(await rows(), 0)
  clock.t += 1_000
  assert.equal(await rows(), 2)
})
