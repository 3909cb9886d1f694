// azure_imds `reattest`: config, can_reattest, TOFU skipped (as upstream's re-attestable attestors),
// replay still refused, selectors read again at each re-attestation within the read cache's TTL.
import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import type { Pki } from '../../azure-emulator/pki.js'
import { NOOP_LOGGER, Report, type PluginError } from '../../../shared/plugin/index.js'
import type { ArmRest } from '../../../shared/azure/arm-rest.js'
import { createCallGate } from '../../../shared/azure/call-gate.js'
import { createAttestor } from '../../../server-plugin/azure-imds/attestor.js'
import { createImdsAzure } from '../../../server-plugin/azure-imds/azure.js'
import { buildConfig } from '../../../server-plugin/azure-imds/config.js'
import { validateInputs } from '../../../shared/cli/validate.js'
import { LOOKUP_CACHE_TTL_MS, READ_CACHE_TTL_MS } from '../../../server-plugin/azure-imds/deps.js'
import {
  agentIo,
  ids,
  imdsTestDeps,
  payloadOf,
  serverConfig,
  TENANT_DOMAIN,
  TENANT_ID,
  TRUST_DOMAIN,
  type TestDeps,
} from '../../support/azure-imds.js'
import { cert, NOW, poolFor, sign, SUBSCRIPTION_ID, testPki, VM_ID } from './pki-support.js'

const SUB = SUBSCRIPTION_ID
const TENANT = `"${TENANT_DOMAIN}" = { tenant_id = "${TENANT_ID}" allowed_vm_tags = ["environment"] }`
const TOFU_HCL = `tenants = { ${TENANT} }`
const REATTEST_HCL = `tenants = { ${TENANT} }\nreattest = true`
const AGENT_ID = `spiffe://${TRUST_DOMAIN}/spire/agent/azure_imds/${TENANT_ID}/${SUB}/${VM_ID}`
const VM = ids.vm(SUB, 'Frontend', 'blog')
const NIC = ids.nic(SUB, 'Frontend', 'blog-nic0')
const NSG = ids.nsg(SUB, 'frontend', 'webservers')
const SUBNET = ids.subnet(SUB, 'NetRG', 'vnet', 'default')
const INITIAL = Buffer.from('non_empty_payload')

let pki: Pki
before(async () => {
  pki = await testPki()
})

function world(hcl: string): { deps: TestDeps; config: ReturnType<typeof serverConfig> } {
  const { pool } = poolFor(pki)
  const deps = imdsTestDeps({
    now: () => NOW.getTime(),
    roots: async () => [cert(pki.roots.tlsRsaRootG2.cert)],
    intermediates: () => pool,
  })
  deps.azure.subscriptions.set(SUB, TENANT_ID)
  deps.azure.addVm({
    sub: SUB,
    rg: 'Frontend',
    name: 'blog',
    vmId: VM_ID,
    tags: { environment: 'production' },
    nics: [{ nsgId: NSG, subnetIds: [SUBNET] }],
  })
  return { deps, config: serverConfig(hcl) }
}

/** Our agent: a fresh document for each nonce, with the resourceId hint. */
const fresh = (nonce: string): Uint8Array =>
  payloadOf(sign({ signer: pki.leaves.public, nonce }), { resourceId: VM })

const refused = (status: string, message: string, reason: string) => (err: unknown) => {
  const e = err as PluginError
  assert.equal(e.status, status, e.message)
  assert.equal(e.message, message)
  assert.equal(e.reason, reason)
  return true
}

function build(hcl: string) {
  const report = new Report()
  return { config: buildConfig(hcl, { trustDomain: TRUST_DOMAIN }, report), report }
}

describe('azure_imds reattest: configuration', () => {
  test('default false; `reattest = false` and `reattest = true` are read as written', () => {
    assert.equal(build(TOFU_HCL).config?.reattest, false)
    assert.equal(build(`${TOFU_HCL}\nreattest = false`).config?.reattest, false)
    const on = build(REATTEST_HCL)
    assert.deepEqual(on.report.problems, [])
    assert.equal(on.config?.reattest, true)
    // JSON plugin_data too
    const json = build(`{"tenants": {"${TENANT_DOMAIN}": {}}, "reattest": true}`)
    assert.deepEqual(json.report.problems, [])
    assert.equal(json.config?.reattest, true)
  })

  test('a non-boolean is a decode error that names the key', () => {
    const { config, report } = build(`${TOFU_HCL}\nreattest = "yes"`)
    assert.equal(config, undefined)
    assert.equal(report.problems.length, 1, JSON.stringify(report.problems))
    const [p] = report.problems
    assert.equal(p?.severity, 'error')
    assert.match(p?.message ?? '', /^unable to decode configuration: /)
    assert.deepEqual(p?.keyPaths, [['reattest']])
  })

  test('a template that makes the agent ID depend on the nonce is refused with reattest (both keys named)', () => {
    for (const template of [
      '/{{ .PluginName }}/{{ .VMID }}/{{ .Nonce }}',
      '/x/{{ .AttestedDocumentContent.Nonce }}',
    ]) {
      const { config, report } = build(
        `${REATTEST_HCL}\nagent_path_template = ${JSON.stringify(template)}`,
      )
      assert.equal(config, undefined, template)
      assert.deepEqual(report.problems, [
        {
          severity: 'error',
          message:
            'reattest = true needs an agent_path_template that does not use .Nonce: the agent would get a new ID at every re-attestation',
          keyPaths: [['reattest'], ['agent_path_template']],
        },
      ])
      // without reattest the same template stays accepted, as upstream
      assert.deepEqual(
        build(`${TOFU_HCL}\nagent_path_template = ${JSON.stringify(template)}`).report.problems,
        [],
      )
    }
    // a template without the nonce is fine
    const ok = build(`${REATTEST_HCL}\nagent_path_template = "/{{ .PluginName }}/{{ .VMID }}"`)
    assert.deepEqual(ok.report.problems, [])
    assert.equal(ok.config?.reattest, true)
  })
})

describe('azure_imds reattest: spire-azure validate', () => {
  const validate = (text: string) =>
    validateInputs(
      ['plugin_data.hcl'],
      { plugin: 'azure_imds', side: 'server' },
      { readFile: () => text, cwd: '/', env: {} },
    ).problems.map((p) => [p.severity, p.line, p.keyPath, p.message])

  test('`reattest` is a known key; a bad value or a nonce template is placed on its line', () => {
    assert.deepEqual(validate(`${TOFU_HCL}\nreattest = true\n`), [])
    const bad = validate(`${TOFU_HCL}\nreattest = "yes"\n`)
    assert.equal(bad.length, 1, JSON.stringify(bad))
    assert.deepEqual(bad[0]?.slice(0, 3), ['error', 2, 'reattest'])
    const nonce = validate(
      `${TOFU_HCL}\nreattest = true\nagent_path_template = "/{{ .VMID }}/{{ .Nonce }}"\n`,
    )
    // one problem per key it names, each on its own line
    assert.deepEqual(
      nonce.map((p) => p.slice(0, 3)),
      [
        ['error', 2, 'reattest'],
        ['error', 3, 'agent_path_template'],
      ],
    )
    assert.ok(nonce.every((p) => /does not use \.Nonce/.test(String(p[3]))))
  })
})

describe('azure_imds reattest: attestation', () => {
  test('default: can_reattest false, an attested agent ID is refused by TOFU (AgentStore asked)', async () => {
    const { deps, config } = world(TOFU_HCL)
    const attrs = await createAttestor(deps).attest(INITIAL, config, agentIo(fresh).io)
    assert.equal(attrs.canReattest, false)
    assert.deepEqual(deps.store.calls, [AGENT_ID])
    deps.store.attested.add(AGENT_ID) // SPIRE recorded it
    await assert.rejects(
      createAttestor(deps).attest(INITIAL, config, agentIo(fresh).io),
      refused(
        'PermissionDenied',
        'attestation data has already been used to attest an agent',
        'already_attested',
      ),
    )
    assert.deepEqual(deps.store.calls, [AGENT_ID, AGENT_ID])
  })

  test('reattest: can_reattest true; an already-attested agent is accepted again with a fresh document; AgentStore never asked', async () => {
    const { deps, config } = world(REATTEST_HCL)
    const attestor = createAttestor(deps)
    const first = agentIo(fresh)
    const a = await attestor.attest(INITIAL, config, first.io)
    assert.equal(a.spiffeId, AGENT_ID)
    assert.equal(a.canReattest, true)
    deps.store.attested.add(AGENT_ID) // SPIRE recorded it
    const second = agentIo(fresh)
    const b = await attestor.attest(INITIAL, config, second.io)
    assert.equal(b.spiffeId, AGENT_ID, 'the same VM keeps its agent ID')
    assert.equal(b.canReattest, true)
    assert.deepEqual(b.selectorValues, a.selectorValues)
    assert.notEqual(second.challenges[0], first.challenges[0], 'each attestation has its own nonce')
    assert.deepEqual(deps.store.calls, [], 'no TOFU lookup, as x509pop and k8s_psat')
    assert.equal(deps.nonces.outstanding, 0)
  })

  test('reattest: a replayed document (answered for an earlier nonce) is still refused, before any Azure read', async () => {
    const { deps, config } = world(REATTEST_HCL)
    const attestor = createAttestor(deps)
    let captured: Uint8Array | undefined
    await attestor.attest(INITIAL, config, agentIo((nonce) => (captured = fresh(nonce))).io)
    const callsBefore = deps.azure.calls.length
    await assert.rejects(
      attestor.attest(INITIAL, config, agentIo(() => captured!).io),
      refused('InvalidArgument', 'nonce mismatch', 'nonce_mismatch'),
    )
    assert.equal(deps.azure.calls.length, callsBefore, 'no Azure read for a replay')
    assert.deepEqual(deps.store.calls, [])
  })

  test('reattest: selectors are read again at each re-attestation (tags, NSGs, subnets)', async () => {
    const { deps, config } = world(REATTEST_HCL)
    const attestor = createAttestor(deps)
    const a = await attestor.attest(INITIAL, config, agentIo(fresh).io)
    assert.ok(a.selectorValues.includes('vm-tag:environment:production'))
    const vm = deps.azure.vms.get(VM.toLowerCase())!
    deps.azure.vms.set(VM.toLowerCase(), { ...vm, tags: { environment: 'staging' } })
    const otherNsg = ids.nsg(SUB, 'frontend', 'quarantine')
    deps.azure.nics.set(NIC.toLowerCase(), { id: NIC, nsgId: otherNsg, subnetIds: [SUBNET] })
    const b = await attestor.attest(INITIAL, config, agentIo(fresh).io)
    assert.ok(b.selectorValues.includes('vm-tag:environment:staging'), b.selectorValues.join())
    assert.ok(!b.selectorValues.includes('vm-tag:environment:production'))
    assert.ok(b.selectorValues.includes('network-security-group:frontend:quarantine'))
    assert.ok(!b.selectorValues.includes('network-security-group:frontend:webservers'))
    const reads = deps.azure.calls.filter((c) => c.startsWith('vm ') || c.startsWith('nic '))
    assert.deepEqual(reads, [`vm ${VM}`, `nic ${NIC}`, `vm ${VM}`, `nic ${NIC}`])
  })

  test('reattest through the production read cache: a tag change shows once READ_CACHE_TTL_MS has passed, never later', async () => {
    let clock = NOW.getTime()
    const now = (): number => clock
    const tags = { value: 'production' }
    const requests: string[] = []
    // ARM as JSON, so the real ImdsAzure (gates, caches, parsing) runs; each GET is counted
    const rest: ArmRest = {
      async get(path) {
        requests.push(path.replace(/\?.*$/, ''))
        if (path === `/subscriptions/${SUB}`) return { tenantId: TENANT_ID }
        if (path === VM)
          return {
            id: VM,
            name: 'blog',
            location: 'eastus',
            tags: { environment: tags.value },
            properties: { vmId: VM_ID, networkProfile: { networkInterfaces: [{ id: NIC }] } },
          }
        if (path === NIC)
          return {
            id: NIC,
            properties: {
              networkSecurityGroup: { id: NSG },
              ipConfigurations: [{ properties: { subnet: { id: SUBNET } } }],
            },
          }
        throw new Error(`unexpected GET ${path}`)
      },
      getNextLink: () => Promise.reject(new Error('no lists')),
      post: () => Promise.reject(new Error('no Resource Graph with the hint')),
    }
    const common = {
      now,
      sleep: () => Promise.resolve(),
      log: NOOP_LOGGER,
      // refresh points at the latest fraction of the window, so the hard expiry is what is tested
      random: () => 0.999,
    }
    const azure = createImdsAzure({
      rest,
      reads: createCallGate({ ...common, cacheTtlMs: READ_CACHE_TTL_MS }),
      lookups: createCallGate({ ...common, cacheTtlMs: LOOKUP_CACHE_TTL_MS }),
    })
    const { pool } = poolFor(pki)
    const deps = imdsTestDeps({
      now,
      roots: async () => [cert(pki.roots.tlsRsaRootG2.cert)],
      intermediates: () => pool,
      azureFor: () => azure,
    })
    const config = serverConfig(REATTEST_HCL)
    const attestor = createAttestor(deps)
    const freshAt = (nonce: string): Uint8Array =>
      payloadOf(sign({ signer: pki.leaves.public, nonce, now: new Date(clock) }), {
        resourceId: VM,
      })
    const tagOf = async (): Promise<string | undefined> => {
      const attrs = await attestor.attest(INITIAL, config, agentIo(freshAt).io)
      assert.equal(attrs.canReattest, true)
      return attrs.selectorValues.find((s) => s.startsWith('vm-tag:'))
    }

    assert.equal(await tagOf(), 'vm-tag:environment:production')
    const loadedAt = clock
    assert.deepEqual(requests, [`/subscriptions/${SUB}`, VM, NIC])
    tags.value = 'staging'
    // within the TTL a re-attestation may be answered from memory (no ARM read at all)
    clock = loadedAt + READ_CACHE_TTL_MS - 1
    const before = requests.length
    assert.equal(await tagOf(), 'vm-tag:environment:production')
    assert.ok(
      requests.slice(before).every((p) => p === VM || p === NIC),
      'at most a background re-read of the VM and its NIC',
    )
    // at the TTL the old tag set is never served again
    clock = loadedAt + READ_CACHE_TTL_MS
    assert.equal(await tagOf(), 'vm-tag:environment:staging')

    // at SPIRE's default cadence (agent SVID 1 h, renewed at half-life) every cache has expired:
    // a re-attestation costs the VM and NIC reads, plus the subscription's (shared by its fleet)
    await new Promise((r) => setImmediate(r))
    clock = loadedAt + 30 * 60_000
    const cold = requests.length
    assert.equal(await tagOf(), 'vm-tag:environment:staging')
    assert.deepEqual(requests.slice(cold), [`/subscriptions/${SUB}`, VM, NIC])
    assert.equal(READ_CACHE_TTL_MS, 60_000, 'the bound the docs state')
  })
})
