// Fault matrix, azure_msi server side (issue 14 item 3): the attestor with its production key source,
// ARM transport and call gate, in process, against the Azure emulator's fault injection — on one
// injected clock shared by the emulator and the plugin, so every time bound is checked by moving
// that clock, never by waiting. Each test is named after its fault and asserts the gRPC code, the
// failure reason, the emulator's request counts, and the recovery once the fault is gone.
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, test } from 'node:test'
import { status as GrpcStatus } from '@grpc/grpc-js'
import type { ArmClient } from '../../../shared/azure/arm.js'
import { ARM_MAX_ATTEMPTS, createResilientArm } from '../../../shared/azure/arm-resilient.js'
import { createArmRest } from '../../../shared/azure/arm-rest.js'
import { createRestArmClient } from '../../../shared/azure/arm-rest-reads.js'
import { armScope } from '../../../shared/azure/clouds.js'
import { nodeHttp } from '../../../shared/azure/http.js'
import { OidcKeySource, type KeySource } from '../../../shared/azure/jwks.js'
import { encodeMsiPayload } from '../../../shared/azure/payloads.js'
import {
  createFileLoader,
  makeCredential,
  withCaFile,
} from '../../../shared/azure/tenant-access.js'
import { createAttestor } from '../../../server-plugin/azure-msi/attestor.js'
import { buildConfig, type MsiServerConfig } from '../../../server-plugin/azure-msi/config.js'
import type { Deps } from '../../../server-plugin/azure-msi/deps.js'
import {
  NOOP_METRICS,
  Report,
  type AgentAttributes,
  type AgentStore,
  type AttestIo,
  type PluginError,
} from '../../../shared/plugin/index.js'
import { createAgentStoreClient } from '../../../shared/plugin/host-services.js'
import { startEmulator, type Emulator } from '../../azure-emulator/index.js'
import { serverHclFor } from '../../support/azure-msi-plugins.js'
import { recordingLogger } from '../../support/loggers.js'

/** The one clock: epoch ms, moved by the tests and by the plugin's own (virtual) waits. */
const clock = { t: 0 }
const now = (): number => clock.t
/** Every wait the plugin began (Retry-After, backoff), in order. */
let waits: number[] = []
/** Waits held for the test to release (holdWaits); otherwise a wait moves the clock at once. */
let holdWaits = false
const held: { ms: number; resolve: () => void }[] = []
let onHeld: () => void = () => {}
const virtualSleep = (ms: number): Promise<void> => {
  waits.push(ms)
  if (!holdWaits) {
    clock.t += ms
    return Promise.resolve()
  }
  return new Promise((resolve) => {
    held.push({ ms, resolve })
    onHeld()
  })
}
/** Resolves once `n` waits are held (event-driven, no clock). */
const heldWaits = (n: number): Promise<void> =>
  new Promise((resolve) => {
    const check = (): void => {
      if (held.length >= n) resolve()
    }
    onHeld = check
    check()
  })
/** Moves the clock past every held wait and lets them all go. */
function releaseWaits(): void {
  clock.t += Math.max(0, ...held.map((h) => h.ms))
  for (const h of held.splice(0)) h.resolve()
  holdWaits = false
}

/** Injected ARM hangs: held until released, so nothing outlives the test. */
const HANG_MS = 3_600_000
let releaseHangs: () => void = () => {}
let hung = Promise.resolve()
const armHang = (): void => {
  hung = new Promise((r) => (releaseHangs = r))
}

let emu: Emulator
before(async () => {
  clock.t = Math.floor(new Date().getTime() / 1000) * 1000
  emu = await startEmulator({
    now: () => new Date(clock.t),
    // an injected latency of HANG_MS is a hang (held until released); others pass at once
    sleep: (ms) => (ms === HANG_MS ? hung : Promise.resolve()),
  })
})
after(async () => {
  releaseHangs()
  assert.deepEqual(emu.errors, [], 'the emulator answered no request with an unexpected error')
  await emu.stop()
})
beforeEach(() => {
  holdWaits = false
  emu.faults.clear()
  emu.entra.setOutage(false)
  waits = []
})

const TRUST_DOMAIN = 'example.org'
/** Production's per-attempt ARM timeout, charged to the clock when a hung attempt is abandoned. */
const PROD_ATTEMPT_TIMEOUT_MS = 15_000
/** The real timer that abandons a hung attempt in these tests (its length is never asserted). */
const TEST_ATTEMPT_TIMEOUT_MS = 100

function config(extra = ''): MsiServerConfig {
  const report = new Report()
  const built = buildConfig(
    serverHclFor(emu, [{ tenant: 'contoso' }], extra),
    { trustDomain: TRUST_DOMAIN },
    report,
  )
  assert.ok(built, report.notes.join('\n'))
  return built
}

/** AgentStore that knows no agent (TOFU passes) and counts its calls. */
function freshStore(): AgentStore & { calls: number } {
  const store = {
    calls: 0,
    async isAttested() {
      store.calls++
      return false
    },
  }
  return store
}

/**
 * The production seams (deps.ts) rebuilt on the injected clock: the same OidcKeySource and the same
 * ARM REST client behind the same call gate; only the clock, the sleep and the attempt timer differ.
 */
function makeDeps(agentStore: AgentStore = freshStore()) {
  const log = recordingLogger()
  const files = createFileLoader(now)
  const keySources = new Map<string, KeySource>()
  const armClients = new Map<string, ArmClient>()
  const deps: Deps = {
    now,
    agentStore,
    log,
    metrics: NOOP_METRICS,
    keysFor(endpoints, tuning) {
      const key = JSON.stringify([endpoints.caFile ?? '', tuning])
      let source = keySources.get(key)
      if (source === undefined) {
        source = new OidcKeySource({
          http: withCaFile(nodeHttp, endpoints.caFile, files),
          now,
          log,
          ttlMs: tuning.ttlMs,
          maxStaleMs: tuning.maxStaleMs,
          unknownKidCooldownMs: tuning.cooldownMs,
          failureBackoffMs: tuning.cooldownMs,
          refreshAhead: false,
        })
        keySources.set(key, source)
      }
      return source
    },
    armFor(tenant) {
      let client = armClients.get(tenant.clientKey)
      if (client === undefined) {
        const http = withCaFile(nodeHttp, tenant.endpoints.caFile, files)
        const rest = (async () => {
          const ca = [emu.endpoints.caCertPem]
          const credential = await makeCredential(
            tenant.tenantId,
            tenant.cloud,
            tenant.endpoints,
            tenant.credential,
            ca,
          )
          return createRestArmClient(
            createArmRest({
              credential,
              armEndpoint: tenant.endpoints.armEndpoint,
              armScope: armScope(tenant.cloud.armResourceId),
              http,
              now,
              extraCa: ca,
            }),
          )
        })()
        client = createResilientArm(chargeHangs(rest), {
          now,
          sleep: virtualSleep,
          log,
          refreshAhead: false,
          random: () => 0.5,
          attemptTimeoutMs: TEST_ATTEMPT_TIMEOUT_MS,
        })
        armClients.set(tenant.clientKey, client)
      }
      return client
    },
    serverSubscription: () => Promise.reject(new Error('every tenant here sets subscription_id')),
  }
  return { deps, log }
}

/**
 * The ARM client as the gate sees it, except that an attempt the gate abandons (its timeout
 * signal fired: ARM hung) costs production's attempt timeout on the injected clock.
 */
function chargeHangs(inner: Promise<ArmClient>): ArmClient {
  const wrap =
    <A extends unknown[], T>(pick: (c: ArmClient) => (...a: A) => Promise<T>) =>
    async (...args: A): Promise<T> => {
      const signal = args[args.length - 1] as AbortSignal | undefined
      try {
        const c = await inner
        return await pick(c).apply(c, args)
      } catch (err) {
        if (signal?.aborted === true) clock.t += PROD_ATTEMPT_TIMEOUT_MS - TEST_ATTEMPT_TIMEOUT_MS
        throw err
      }
    }
  return {
    getVirtualMachine: wrap((c) => c.getVirtualMachine),
    getScaleSet: wrap((c) => c.getScaleSet),
    getScaleSetVm: wrap((c) => c.getScaleSetVm),
    getNetworkInterface: wrap((c) => c.getNetworkInterface),
    listVirtualMachinesByPrincipal: wrap((c) => c.listVirtualMachinesByPrincipal),
  }
}

const io = (): AttestIo => ({
  challenge: () => Promise.reject(new Error('azure_msi never challenges')),
  signal: new AbortController().signal,
  metadata: {},
})

async function tokenFor(vm: string, kid?: string): Promise<string> {
  return (await emu.tokens.issueMsiToken({ vm, ...(kid === undefined ? {} : { kid }) })).token
}

function attest(deps: Deps, cfg: MsiServerConfig, token: string): Promise<AgentAttributes> {
  return createAttestor(deps).attest(encodeMsiPayload(token), cfg, io())
}

const refused =
  (status: string, reason: string, message?: RegExp) =>
  (err: unknown): boolean => {
    const e = err as PluginError
    assert.equal(e.status, status, e.message)
    assert.equal(e.reason, reason, e.message)
    if (message !== undefined) assert.match(e.message, message)
    return true
  }

/** Entra requests for signing keys (discovery documents and key sets). */
const entraKeyRequests = (): number =>
  emu.counters.get('entra.openid-*') + emu.counters.get('entra.jwks')

/** The same token with another `kid` in its header (the signature no longer matters: the kid is looked up first). */
function withKid(token: string, kid: string): string {
  const [h, p, s] = token.split('.')
  const header = JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >
  return `${Buffer.from(JSON.stringify({ ...header, kid })).toString('base64url')}.${p}.${s}`
}

describe('fault matrix: Entra ID (azure_msi server)', () => {
  test('Entra unreachable: cached keys serve within the stale bound, then refused jwks_unavailable, recovered after', async () => {
    // 1 min TTL, 10 min stale bound, 30 s backoff after a failed refresh (production: 1 h, 24 h, 30 s)
    const cfg = config(
      'jwks_cache_ttl = "1m"\njwks_max_stale = "10m"\njwks_refresh_cooldown = "30s"',
    )
    const { deps, log } = makeDeps()
    const t0 = clock.t
    await attest(deps, cfg, await tokenFor('frontend/blog'))
    const fetched = entraKeyRequests()

    emu.entra.setOutage(true)
    // inside the TTL: the cache answers, Entra is not asked
    clock.t = t0 + 30_000
    await attest(deps, cfg, await tokenFor('frontend/blog'))
    assert.equal(entraKeyRequests(), fetched)

    // past the TTL, inside the stale bound: one refresh is tried (and fails), the stale set serves
    clock.t = t0 + 90_000
    const attrs = await attest(deps, cfg, await tokenFor('frontend/blog'))
    assert.ok(attrs.selectorValues.includes('vm-name:frontend:blog'))
    assert.equal(entraKeyRequests(), fetched + 1)
    assert.ok(
      log.lines.some((l) => l.level === 'warn' && l.message === 'Serving stale signing keys'),
    )

    // inside the 30 s backoff: served stale again without asking Entra
    clock.t = t0 + 100_000
    await attest(deps, cfg, await tokenFor('frontend/blog'))
    assert.equal(entraKeyRequests(), fetched + 1)

    // past TTL + stale bound (1 min + 10 min): refused, before AgentStore and ARM. Unavailable, not
    // upstream's Internal (a deliberate change, shared/azure/transient.ts): Entra answered 503
    clock.t = t0 + 60_000 + 600_000 + 1
    const store = deps.agentStore as ReturnType<typeof freshStore>
    const storeCalls = store.calls
    const arm = emu.counters.get('arm.*')
    await assert.rejects(
      attest(deps, cfg, await tokenFor('frontend/blog')),
      refused(
        'Unavailable',
        'jwks_unavailable',
        /^unable to obtain JWKS: unexpected status code 503: /,
      ),
    )
    assert.equal(entraKeyRequests(), fetched + 2)
    assert.equal(store.calls, storeCalls)
    assert.equal(emu.counters.get('arm.*'), arm)

    // recovery: Entra back, the backoff passed — one refresh (discovery + key set) and attestation works
    emu.entra.setOutage(false)
    clock.t += 30_000
    await attest(deps, cfg, await tokenFor('frontend/blog'))
    assert.equal(entraKeyRequests(), fetched + 4)
  })

  test('key rotation mid-run: old tokens verify while the old key is published; a new or unknown kid costs one coalesced refetch', async () => {
    const cfg = config('jwks_refresh_cooldown = "30s"')
    const { deps } = makeDeps()
    const oldKid = emu.entra.keys.active().kid
    const oldToken = await tokenFor('frontend/blog', oldKid)
    await attest(deps, cfg, oldToken)
    const jwks = emu.counters.get('entra.jwks')

    // Entra rolls its keys over: the new key signs, the old one stays published
    const newKid = await emu.entra.rotateKeys()
    emu.imds.clearTokenCache()
    clock.t += 31_000 // past the unknown-kid cooldown since the last fetch
    const newTokens = await Promise.all(
      [
        'frontend/blog',
        'frontend/worker',
        'frontend/flex/0',
        'frontend/flex/1',
        'frontend/flex/2',
      ].map((vm) => tokenFor(vm, newKid)),
    )
    const results = await Promise.all(newTokens.map((t) => attest(deps, cfg, t)))
    assert.equal(results.length, 5)
    assert.equal(emu.counters.get('entra.jwks') - jwks, 1, 'five new-kid tokens, one refetch')

    // the token signed before the rollover still verifies from the refreshed set, no refetch
    await attest(deps, cfg, oldToken)
    assert.equal(emu.counters.get('entra.jwks') - jwks, 1)

    // a kid nobody published: one coalesced refetch for a burst, none within the cooldown
    clock.t += 31_000
    const forged = await Promise.all([0, 1, 2, 3].map(() => tokenFor('frontend/blog', newKid)))
    const unknown = await Promise.allSettled(
      forged.map((t) => attest(deps, cfg, withKid(t, 'not-a-published-kid'))),
    )
    for (const r of unknown) {
      assert.equal(r.status, 'rejected')
      refused('InvalidArgument', 'unknown_key_id')((r as PromiseRejectedResult).reason)
    }
    assert.equal(emu.counters.get('entra.jwks') - jwks, 2, 'four unknown-kid tokens, one refetch')
    await assert.rejects(
      attest(deps, cfg, withKid(forged[0]!, 'another-unpublished-kid')),
      refused('InvalidArgument', 'unknown_key_id'),
    )
    assert.equal(emu.counters.get('entra.jwks') - jwks, 2, 'none within the cooldown')

    // once Entra stops publishing the old key, the next scheduled refresh (the 1 h TTL; an
    // unknown-kid refetch only runs for kids not cached) retires it here too
    await emu.entra.rotateKeys(undefined, { keepPrevious: false })
    clock.t += 3_600_000
    await assert.rejects(
      attest(deps, cfg, oldToken),
      refused('InvalidArgument', 'unknown_key_id', /not found/),
    )
    assert.equal(emu.counters.get('entra.jwks') - jwks, 3)
  })

  test('Entra key fetch failures: transient ones (5xx, 429, reset) refused Unavailable, permanent ones (404, malformed) Internal; nothing cached is ever accepted', async () => {
    const cfg = config()
    const cases = [
      // a deliberate change from upstream's Internal (shared/azure/transient.ts)
      [
        'entra.jwks',
        { kind: 'status', status: 500 },
        'Unavailable',
        /unexpected status code 500: /,
      ],
      ['entra.openid-v1', { kind: 'throttle', retryAfterS: 5 }, 'Unavailable', /status code 429: /],
      ['entra.jwks', { kind: 'reset' }, 'Unavailable', /^unable to obtain JWKS: /],
      // permanent: Internal, as upstream
      ['entra.jwks', { kind: 'status', status: 404 }, 'Internal', /unexpected status code 404: /],
      ['entra.openid-v1', { kind: 'status', status: 403 }, 'Internal', /status code 403: /],
      [
        'entra.jwks',
        { kind: 'status', status: 200, body: { nokeys: [] } },
        'Internal',
        /failed to decode key set: missing "keys" array$/,
      ],
      [
        'entra.openid-v1',
        { kind: 'status', status: 200, body: { issuer: 'x' } },
        'Internal',
        /configuration missing JWKS URI$/,
      ],
    ] as const
    for (const [route, fault, status, message] of cases) {
      const { deps } = makeDeps() // a key source with nothing cached
      const arm = emu.counters.get('arm.*')
      emu.faults.set(route, fault)
      await assert.rejects(
        attest(deps, cfg, await tokenFor('frontend/blog')),
        refused(status, 'jwks_unavailable', message),
        `${route} ${JSON.stringify(fault)}`,
      )
      assert.equal(emu.counters.get('arm.*'), arm, 'refused before any ARM read')
      emu.faults.clear()
      // recovery once the empty-set backoff (5 s) has passed
      clock.t += 5_000
      await attest(deps, cfg, await tokenFor('frontend/blog'))
    }
  })
})

describe('fault matrix: Resource Manager (azure_msi server)', () => {
  test('ARM 429 with Retry-After: each wait is the Retry-After, never an early retry, then attested', async () => {
    const cfg = config()
    const { deps } = makeDeps()
    emu.faults.set('arm.vm.get', { kind: 'throttle', retryAfterS: 7 }, { times: 2 })
    const before = emu.counters.get('arm.vm.get')
    const attrs = await attest(deps, cfg, await tokenFor('frontend/blog'))
    assert.ok(attrs.selectorValues.includes('vm-name:frontend:blog'))
    assert.equal(emu.counters.get('arm.vm.get') - before, 3)
    assert.deepEqual(waits, [7_000, 7_000])
    assert.deepEqual(emu.faults.earlyRetries, [])
  })

  test('ARM 429 storm: concurrent attestations honour Retry-After (no early retry), a long storm is refused within bounds, recovery after', async () => {
    const cfg = config()
    const { deps } = makeDeps()
    await attest(deps, cfg, await tokenFor('frontend/blog')) // the ARM credential is warm
    const vms = ['frontend/worker', 'frontend/flex/0', 'frontend/flex/1', 'frontend/flex/2']

    // one read is throttled (Retry-After 5 s): while that wait runs, the gate holds every other
    // attestation's ARM reads too — no request reaches ARM until the Retry-After has passed
    holdWaits = true
    emu.faults.set('arm.vm.get', { kind: 'throttle', retryAfterS: 5 }, { times: 1 })
    waits = []
    let before = emu.counters.get('arm.vm.get')
    const first = attest(deps, cfg, await tokenFor(vms[0]!))
    await heldWaits(1)
    const rest = vms.slice(1).map(async (vm) => attest(deps, cfg, await tokenFor(vm)))
    await heldWaits(vms.length)
    assert.equal(emu.counters.get('arm.vm.get') - before, 1, 'only the throttled request was sent')
    assert.deepEqual(waits, [5_000, 5_000, 5_000, 5_000])
    releaseWaits()
    const burst = await Promise.all([first, ...rest])
    assert.equal(burst.length, vms.length)
    assert.equal(emu.counters.get('arm.vm.get') - before, 1 + vms.length)
    assert.deepEqual(emu.faults.earlyRetries, [], 'no request inside an announced Retry-After')

    // a storm that does not stop: refused Unavailable arm_lookup_failed (was Internal, as upstream:
    // a deliberate change — throttling is transient), at most ARM_MAX_ATTEMPTS requests per read,
    // no wait begun past the 30 s budget
    emu.faults.clear()
    clock.t += 61_000 // past the read cache
    emu.faults.set('arm.*', { kind: 'throttle', retryAfterS: 5 })
    waits = []
    before = emu.counters.get('arm.*')
    const stormed = await Promise.allSettled(
      vms.map(async (vm) => attest(deps, cfg, await tokenFor(vm))),
    )
    for (const r of stormed) {
      assert.equal(r.status, 'rejected')
      refused(
        'Unavailable',
        'arm_lookup_failed',
        /429|throttled/,
      )((r as PromiseRejectedResult).reason)
    }
    const requests = emu.counters.get('arm.*') - before
    assert.ok(requests >= vms.length && requests <= vms.length * ARM_MAX_ATTEMPTS, String(requests))
    assert.ok(
      waits.every((w) => w <= 30_000),
      String(waits),
    )

    // a Retry-After beyond the attestation's budget: refused at once, no wait begun, and no
    // request at all while it is in force
    emu.faults.clear()
    clock.t += 61_000
    emu.faults.set('arm.*', { kind: 'throttle', retryAfterS: 120 }, { times: 1 })
    waits = []
    await assert.rejects(
      attest(deps, cfg, await tokenFor('frontend/blog')),
      refused('Unavailable', 'arm_lookup_failed', /429/),
    )
    assert.deepEqual(waits, [])
    const mid = emu.counters.get('arm.*')
    await assert.rejects(
      attest(deps, cfg, await tokenFor('frontend/blog')),
      refused('Unavailable', 'arm_lookup_failed', /throttled by ARM: retry after \d+s/),
    )
    assert.equal(emu.counters.get('arm.*'), mid, 'no ARM request while the Retry-After is in force')

    // recovery: once the Retry-After has passed, every VM attests again
    clock.t += 121_000
    for (const vm of [...vms, 'frontend/blog']) await attest(deps, cfg, await tokenFor(vm))
    assert.deepEqual(emu.faults.earlyRetries, [])
  })

  // Unavailable, not upstream's Internal: a deliberate change (shared/azure/transient.ts) so the
  // agent retries and an operator reads "try again"; the message and reason are unchanged
  test('ARM 5xx: bounded retries with backoff, refused Unavailable arm_lookup_failed, recovery with no negative cache', async () => {
    const cfg = config()
    const { deps } = makeDeps()
    for (const status of [500, 502]) {
      emu.faults.set('arm.vm.get', { kind: 'status', status })
      waits = []
      const before = emu.counters.get('arm.vm.get')
      await assert.rejects(
        attest(deps, cfg, await tokenFor('frontend/blog')),
        refused(
          'Unavailable',
          'arm_lookup_failed',
          new RegExp(`unable to get virtual machine.*${status}`, 's'),
        ),
      )
      assert.equal(emu.counters.get('arm.vm.get') - before, ARM_MAX_ATTEMPTS)
      // 0.5 s, 1 s, 2 s (jitter fixed at its midpoint)
      assert.deepEqual(waits, [500, 1_000, 2_000])
    }
    emu.faults.clear()
    const before = emu.counters.get('arm.vm.get')
    await attest(deps, cfg, await tokenFor('frontend/blog'))
    assert.equal(emu.counters.get('arm.vm.get') - before, 1)
  })

  test('ARM hang: each attempt abandoned at its timeout, attempts stop at the 30 s budget, refused Unavailable, recovery after', async () => {
    const cfg = config()
    const { deps } = makeDeps()
    await attest(deps, cfg, await tokenFor('frontend/worker')) // credential and NIC reads warm
    armHang()
    emu.faults.set('arm.vm.get', { kind: 'latency', ms: HANG_MS })
    waits = []
    clock.t += 120_000 // past the VM read cache
    const before = emu.counters.get('arm.vm.get')
    await assert.rejects(
      attest(deps, cfg, await tokenFor('frontend/blog')),
      // Unavailable (was Internal, as upstream): a deliberate change, the attempts timed out
      refused('Unavailable', 'arm_lookup_failed', /unable to get virtual machine/),
    )
    // production timing on the injected clock: attempt 1 hangs 15 s, 0.5 s backoff, attempt 2
    // hangs 15 s (30.5 s); the next 1 s wait would pass the 30 s budget, so no third attempt
    assert.equal(emu.counters.get('arm.vm.get') - before, 2)
    assert.deepEqual(waits, [500])
    releaseHangs()
    emu.faults.clear()
    const after = emu.counters.get('arm.vm.get')
    await attest(deps, cfg, await tokenFor('frontend/blog'))
    assert.equal(emu.counters.get('arm.vm.get') - after, 1)
  })

  test('permanent ARM failures stay Internal arm_lookup_failed: 404, 403 (no retry) and a malformed response', async () => {
    const cfg = config()
    const cases = [
      [{ kind: 'status', status: 404 }, /unable to get virtual machine: 404 /, 1],
      [{ kind: 'status', status: 403 }, /unable to get virtual machine: 403 /, 1],
      // 200 without an id: a malformed answer (retried like a transport failure, then refused)
      [{ kind: 'status', status: 200, body: { name: 'blog' } }, /response has no id$/, undefined],
    ] as const
    for (const [fault, message, requests] of cases) {
      const { deps } = makeDeps()
      emu.faults.set('arm.vm.get', fault)
      const before = emu.counters.get('arm.vm.get')
      await assert.rejects(
        attest(deps, cfg, await tokenFor('frontend/blog')),
        refused('Internal', 'arm_lookup_failed', message),
        JSON.stringify(fault),
      )
      if (requests !== undefined) assert.equal(emu.counters.get('arm.vm.get') - before, requests)
      emu.faults.clear()
      await attest(deps, cfg, await tokenFor('frontend/blog'))
    }
  })
})

describe('fault matrix: the AgentStore host service (azure_msi server)', () => {
  test('AgentStore errors: refused with the host code and agent_store_failed (fails closed), no ARM read; recovery after', async () => {
    // the plugin's real AgentStore client over a host connection that answers with an error
    let answer: { code: number; details: string } | undefined
    const calls: string[] = []
    const store = createAgentStoreClient({
      call: async (method, request) => {
        calls.push(method)
        if (answer !== undefined) throw answer
        void request
        throw { code: GrpcStatus.NOT_FOUND, details: 'no such agent' }
      },
    })
    const cfg = config()
    const { deps } = makeDeps(store)
    const arm = emu.counters.get('arm.*')
    for (const [code, name] of [
      [GrpcStatus.UNAVAILABLE, 'Unavailable'],
      [GrpcStatus.UNKNOWN, 'Unknown'],
      [GrpcStatus.DEADLINE_EXCEEDED, 'DeadlineExceeded'],
      [GrpcStatus.INTERNAL, 'Internal'],
    ] as const) {
      answer = { code, details: 'datastore-sql: database is locked' }
      await assert.rejects(
        attest(deps, cfg, await tokenFor('frontend/blog')),
        refused(
          name,
          'agent_store_failed',
          /^unable to get agent info: datastore-sql: database is locked$/,
        ),
      )
    }
    assert.equal(calls.length, 4)
    assert.equal(emu.counters.get('arm.*'), arm, 'refused before any ARM read')
    answer = undefined
    const attrs = await attest(deps, cfg, await tokenFor('frontend/blog'))
    assert.ok(attrs.selectorValues.includes('vm-name:frontend:blog'))
  })
})
