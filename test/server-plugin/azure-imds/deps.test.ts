import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import type { Pki } from '../../azure-emulator/pki.js'
import { NOOP_LOGGER, NOOP_METRICS, Report } from '../../../shared/plugin/index.js'
import { buildConfig } from '../../../server-plugin/azure-imds/config.js'
import { createDefaultDeps, parseTrustBundle } from '../../../server-plugin/azure-imds/deps.js'
import { readAssertion } from '../../../shared/azure/tenant-access.js'
import { pinnedRoots } from '../../../server-plugin/azure-imds/roots.js'
import { FakeAgentStore } from '../../support/azure-fakes.js'
import { testPki } from './pki-support.js'

let pki: Pki
let dir = ''
before(async () => {
  pki = await testPki()
  dir = mkdtempSync(join(tmpdir(), 'imds-deps-'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

const ctx = () => ({
  log: NOOP_LOGGER,
  agentStore: new FakeAgentStore(),
  metrics: NOOP_METRICS,
  hostServices: [],
})

test('trust_bundle_path adds CA certificates to the pinned roots; anything else is refused with upstream’s messages', async () => {
  const path = join(dir, 'roots.pem')
  writeFileSync(path, pki.trustBundlePem)
  const report = new Report()
  const config = buildConfig(
    `tenants = { "a.example.com" = {} }\ntrust_bundle_path = "${path}"`,
    { trustDomain: 'example.org' },
    report,
  )!
  const roots = await createDefaultDeps(ctx()).roots(config)
  assert.equal(roots.length, pinnedRoots().length + 2)

  assert.throws(() => parseTrustBundle('/x.pem', pki.leaves.public.cert.pem), {
    status: 'Internal',
    message:
      /^trust bundle "\/x\.pem" contains a non-CA certificate \(subject ".*metadata\.azure\.com.*"\)$/,
  })
  assert.throws(() => parseTrustBundle('/x.pem', 'nothing here'), {
    message: 'unable to load trust bundle "/x.pem": no certificates found',
  })
  const missing = buildConfig(
    `tenants = { "a.example.com" = {} }\ntrust_bundle_path = "${join(dir, 'absent.pem')}"`,
    { trustDomain: 'example.org' },
    new Report(),
  )!
  await assert.rejects(createDefaultDeps(ctx()).roots(missing), {
    message: /^unable to load trust bundle ".*absent\.pem": ENOENT/,
  })
})

test('the token_auth file must hold a JWS with an allowed algorithm; it is re-read each time', async () => {
  const path = join(dir, 'token')
  const jws = (alg: string) =>
    `${Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url')}.eyJzdWIiOiJ4In0.c2ln`
  writeFileSync(path, `${jws('RS256')}\n`)
  assert.equal(await readAssertion(path), jws('RS256'))
  writeFileSync(path, jws('HS256'))
  await assert.rejects(readAssertion(path), {
    message: `unable to parse token file "${path}": unexpected signature algorithm "HS256"`,
  })
  writeFileSync(path, 'not a token')
  await assert.rejects(readAssertion(path), {
    message: `unable to parse token file "${path}": not a compact JWS`,
  })
  await assert.rejects(readAssertion(join(dir, 'none')), {
    message: /^unable to read token file ".*none": ENOENT/,
  })
})

test('without AgentStore the plugin cannot attest (upstream’s Init error)', () => {
  assert.throws(() => createDefaultDeps({ ...ctx(), agentStore: undefined }), {
    message: 'required AgentStore host service not available',
  })
})
