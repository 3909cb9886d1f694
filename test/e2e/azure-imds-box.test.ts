import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { REPO_ROOT } from '../support/paths.js'
import { ensureSpire, SPIRE_VERSION } from '../support/spire.js'

/**
 * Azure in a box (scripts/azure-in-a-box.sh: a private network namespace where 169.254.169.254 and
 * Azure's host names are the emulator): our server plugin runs on production defaults, and
 *  - SPIRE's own built-in azure_imds agent attests a Flexible scale-set member (upstream's server
 *    mis-routes those, spiffe/spire#7296);
 *  - our agent, with no endpoint override, attests a Uniform instance through its resourceId hint;
 *  - our agent's payload (resourceId hint included) gets through SPIRE's built-in server up to the
 *    chain check, which fails only because the emulator's roots are not the Microsoft roots it pins.
 * Skipped where the box cannot be built (not root, unshare refused).
 */
const installed = ensureSpire()
const skip = 'skip' in installed ? installed.skip : false
const BOX = join(REPO_ROOT, 'scripts', 'azure-in-a-box.sh')
const DRIVER = join(REPO_ROOT, 'dist', 'test', 'e2e', 'azure-imds-box-driver.js')
const BOX_SKIP_STATUS = 77

function inBox(vm: string, which: 'upstream' | 'ours' | 'ours-to-upstream') {
  const bin = 'skip' in installed ? '' : installed.bin
  const r = spawnSync(
    'bash',
    [BOX, '--default-vm', vm, '--', process.execPath, DRIVER, bin, which],
    {
      encoding: 'utf8',
      timeout: 150_000,
    },
  )
  if (r.status === BOX_SKIP_STATUS) return { skipped: r.stderr.trim() }
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as {
    ok: boolean
    spiffeId?: string
    shown?: string
    foundBy?: string
    refusal?: string
    error?: string
  }
}

describe(`real SPIRE v${SPIRE_VERSION} in an Azure box`, { skip, timeout: 400_000 }, () => {
  test('SPIRE’s built-in azure_imds agent attests a Flexible member through our server', (t) => {
    const out = inBox('frontend/flex/1', 'upstream')
    if ('skipped' in out) return t.skip(`box unavailable: ${out.skipped}`)
    assert.ok(out.ok, out.error)
    assert.match(
      out.spiffeId ?? '',
      /^spiffe:\/\/example\.org\/spire\/agent\/azure_imds\/[0-9a-f-]{36}\/[0-9a-f-]{36}\/[0-9a-f-]{36}$/,
    )
    assert.match(out.shown ?? '', /azure_imds:vmss-name:flex/)
    assert.match(out.shown ?? '', /azure_imds:vm-name:flex_[0-9a-f]{8}/)
    assert.equal(out.foundBy, 'resource-graph')
    return undefined
  })

  test('our agent on production defaults attests a Uniform instance by its resourceId hint', (t) => {
    const out = inBox('frontend/web/2', 'ours')
    if ('skipped' in out) return t.skip(`box unavailable: ${out.skipped}`)
    assert.ok(out.ok, out.error)
    assert.match(out.shown ?? '', /azure_imds:vm-name:web_2/)
    assert.match(out.shown ?? '', /azure_imds:vmss-name:web/)
    assert.equal(out.foundBy, 'resource-id-hint')
    return undefined
  })

  test('SPIRE’s built-in server parses our agent’s payload and verifies its signature and SAN', (t) => {
    const out = inBox('frontend/blog', 'ours-to-upstream')
    if ('skipped' in out) return t.skip(`box unavailable: ${out.skipped}`)
    assert.ok(out.ok, out.error)
    // the first failing step is the chain to Microsoft's pinned roots: payload decoding, the AIA
    // fetch, the PKCS#7 signature and the SAN check all passed
    assert.match(out.refusal ?? '', /InvalidArgument/)
    assert.match(
      out.refusal ?? '',
      /failed to validate attested document: certificate chain validation failed/,
    )
    return undefined
  })
})
