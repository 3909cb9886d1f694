import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, test } from 'node:test'
import { DEFAULT_WORLD, World } from '../azure-emulator/index.js'
import { CONFIG_FORMS, type ConfigForm } from '../support/config-forms.js'
import type { MatrixDriverInput } from '../support/matrix-driver.js'
import {
  cellId,
  MATRIX_ATTESTORS,
  MATRIX_PAIRINGS,
  matrixResultsDir,
  writeCellResult,
  type MatrixAttestor,
  type MatrixCellKey,
  type MatrixCellResult,
  type MatrixOutcome,
} from '../support/matrix.js'
import { REPO_ROOT } from '../support/paths.js'
import { ensureSpire } from '../support/spire.js'
import { TESTED_SPIRE_VERSIONS, type SpireRelease } from '../support/spire-versions.js'

/**
 * The compatibility matrix, with real SPIRE binaries of every release in spire-versions.ts, inside
 * Azure in a box (scripts/azure-in-a-box.sh; production URLs, no endpoint overrides): for each
 * release × attestor × server config form (HCL, JSON, plugin_data_file): our agent → our server,
 * upstream's built-in agent → our server, our agent → upstream's built-in server, and for
 * azure_imds a control, upstream's agent → upstream's server. Upstream's azure_imds server pins
 * Microsoft's roots, so its side runs the release's TEST-ONLY test-roots build
 * (scripts/patches/spire-azureimds-extra-roots.patch), which also trusts the emulator's roots.
 * Every cell writes a JSON result (test/support/matrix.ts) that scripts/compatibility.mjs turns
 * into docs/compatibility.md. One box run drives every cell; each test checks one cell.
 */
const FILE = 'test/e2e/matrix.test.ts'
const SUITE = 'SPIRE compatibility matrix'
const BOX = join(REPO_ROOT, 'scripts', 'azure-in-a-box.sh')
const DRIVER = join(REPO_ROOT, 'dist', 'test', 'support', 'matrix-driver.js')
const BOX_SKIP_STATUS = 77
const FORMS: readonly ConfigForm[] = CONFIG_FORMS

type Installed = { version: string; bin: string; testRootsServer: string } | { skip: string }

function install(r: SpireRelease): Installed {
  try {
    const release = ensureSpire(r.version)
    if ('skip' in release) return release
    const roots = ensureSpire(r.version, 'test-roots')
    if ('skip' in roots) return roots
    return { version: r.version, bin: release.bin, testRootsServer: roots.server }
  } catch (err) {
    return { skip: `SPIRE v${r.version} could not be built: ${(err as Error).message}` }
  }
}

const installed = new Map(TESTED_SPIRE_VERSIONS.map((r) => [r.version, install(r)]))

function runBox(input: MatrixDriverInput) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      'bash',
      [BOX, '--default-vm', 'frontend/blog', '--', process.execPath, DRIVER, JSON.stringify(input)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 420_000)
    child.on('exit', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}

// What the default world's frontend/blog VM is, whichever agent speaks for it.
const world = new World(DEFAULT_WORLD)
const blog = world.vm('frontend/blog')
const sub = blog.resourceGroup.subscription
const TENANT = sub.tenant.tenantId
const EXPECTED_ID: Record<MatrixAttestor, string> = {
  azure_msi: `spiffe://example.org/spire/agent/azure_msi/${TENANT}/${blog.identity.system!.principalId}`,
  azure_imds: `spiffe://example.org/spire/agent/azure_imds/${TENANT}/${sub.subscriptionId}/${blog.vmId}`,
}
/** azure_msi: upstream's five selectors, exactly what its server records. */
const UPSTREAM_MSI = [
  `azure_msi:network-security-group:frontend:webservers`,
  `azure_msi:subscription-id:${sub.subscriptionId}`,
  `azure_msi:virtual-network-subnet:frontend:vnet:default`,
  `azure_msi:virtual-network:frontend:vnet`,
  `azure_msi:vm-name:frontend:blog`,
]
/** What our servers record besides, per attestor. */
const OURS_ALSO: Record<MatrixAttestor, string[]> = {
  azure_msi: [
    'azure_msi:resource-group:frontend',
    `azure_msi:tenant-id:${TENANT}`,
    `azure_msi:principal-id:${blog.identity.system!.principalId}`,
  ],
  azure_imds: [
    `azure_imds:subscription-id:${sub.subscriptionId}`,
    'azure_imds:vm-name:blog',
    'azure_imds:vm-location:eastus',
    'azure_imds:resource-group:frontend',
    'azure_imds:vm-tag:environment:production',
    'azure_imds:network-security-group:frontend:webservers',
    'azure_imds:virtual-network:vnet',
    'azure_imds:virtual-network-subnet:vnet:default',
    `azure_imds:tenant-id:${TENANT}`,
    `azure_imds:vm-id:${blog.vmId}`,
  ],
}

describe(SUITE, { timeout: 600_000 }, () => {
  const outcomes = new Map<string, MatrixOutcome>()
  let boxSkip: string | undefined

  before(async () => {
    // this run's cells replace every earlier result
    const results = matrixResultsDir()
    mkdirSync(results, { recursive: true })
    for (const f of readdirSync(results).filter((n) => n.endsWith('.json')))
      rmSync(join(results, f))
    const targets = [...installed.values()].flatMap((i) => ('skip' in i ? [] : [i]))
    if (targets.length === 0) return
    const r = await runBox({ targets, forms: [...FORMS], concurrency: 2 })
    // the driver's progress (servers' start-up and each cell's duration), for whoever reads the run
    writeFileSync(join(results, 'driver.log'), r.stderr)
    if (r.status === BOX_SKIP_STATUS) {
      boxSkip = `Azure in a box unavailable: ${r.stderr.trim()}`
      return
    }
    assert.equal(r.status, 0, r.stderr.slice(-4000))
    const lines = r.stdout.trim().split('\n')
    for (const o of JSON.parse(lines.at(-1)!) as MatrixOutcome[]) outcomes.set(cellId(o), o)
  })

  for (const release of TESTED_SPIRE_VERSIONS) {
    for (const form of FORMS) {
      const group = `SPIRE v${release.version}, server config as ${form}`
      describe(group, () => {
        for (const attestor of MATRIX_ATTESTORS) {
          for (const p of MATRIX_PAIRINGS) {
            if (p.pairing === 'upstream-upstream' && attestor !== 'azure_imds') continue
            const key: MatrixCellKey = {
              version: release.version,
              attestor,
              pairing: p.pairing,
              form,
            }
            const name = `${attestor}: ${p.label}`
            test(name, (t) => {
              const record = (r: Pick<MatrixCellResult, 'status' | 'reason' | 'spiffeId'>) =>
                writeCellResult({
                  ...key,
                  file: FILE,
                  test: `${SUITE} > ${group} > ${name}`,
                  serverBuild: p.server === 'upstream' ? 'test-roots' : 'release',
                  ...(release.note === undefined ? {} : { note: release.note }),
                  ...r,
                })
              const inst = installed.get(release.version)!
              const skip = 'skip' in inst ? inst.skip : boxSkip
              if (skip !== undefined) {
                record({ status: 'skip', reason: skip })
                return t.skip(skip)
              }
              const o = outcomes.get(cellId(key))
              try {
                assert.ok(o !== undefined, 'the driver reported no outcome for this cell')
                const limit = release.imdsServerRefusal
                if (p.server === 'upstream' && attestor === 'azure_imds' && limit !== undefined) {
                  // a release whose built-in server refuses the emulator's documents for a reason
                  // the roots patch does not reach: prove our payload gets exactly as far as
                  // upstream's own agent's does (the control), and say why it stops there
                  assert.ok(!o.ok, `expected the documented refusal, got ${JSON.stringify(o)}`)
                  assert.match(o.refusal ?? '', new RegExp(limit.refusal), o.error)
                  const control = outcomes.get(cellId({ ...key, pairing: 'upstream-upstream' }))
                  assert.equal(
                    o.refusal,
                    control?.refusal,
                    'refused exactly as upstream’s own agent',
                  )
                  record({ status: 'limited', reason: limit.reason })
                  return undefined
                }
                assert.ok(o.ok, o.refusal ?? o.error)
                assert.equal(o.spiffeId, EXPECTED_ID[attestor])
                const selectors = o.selectors ?? []
                if (p.server === 'ours') {
                  const want =
                    attestor === 'azure_msi'
                      ? [...UPSTREAM_MSI, ...OURS_ALSO.azure_msi]
                      : OURS_ALSO.azure_imds
                  for (const s of want)
                    assert.ok(selectors.includes(s), `${s} in ${selectors.join(' ')}`)
                  assert.ok(!selectors.some((s) => s.startsWith('azure_msi:client-id:')))
                } else if (attestor === 'azure_msi') {
                  assert.deepEqual(selectors, UPSTREAM_MSI)
                } else {
                  // upstream's own selector set, a subset of ours
                  for (const s of selectors) assert.ok(OURS_ALSO.azure_imds.includes(s), s)
                  assert.ok(selectors.includes(`azure_imds:subscription-id:${sub.subscriptionId}`))
                  assert.ok(selectors.includes('azure_imds:vm-name:blog'), selectors.join(' '))
                  if (p.pairing === 'upstream-server') {
                    const control = outcomes.get(cellId({ ...key, pairing: 'upstream-upstream' }))
                    assert.deepEqual(
                      selectors,
                      control?.selectors,
                      'same as for upstream’s own agent',
                    )
                  }
                }
                record({ status: 'pass', spiffeId: o.spiffeId! })
              } catch (err) {
                record({ status: 'fail', reason: (err as Error).message.split('\n')[0]! })
                throw err
              }
              return undefined
            })
          }
        }
      })
    }
  }
})
