// The Agent API load generator (bench/agent-load.ts): its pure parts (closed loop, percentiles,
// fleet split and order, CSR, /proc parsing) and a small run through real spire-server with both of
// our attestors and the test attestor, every SVID's agent ID checked.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import {
  createPublicKey,
  generateKeyPairSync,
  sign,
  X509Certificate,
  type KeyObject,
} from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { certParts, checkSvid, newAgentKey, parseBundle } from '../../bench/agent-load-csr.js'
import { fleetOrder, splitFleet } from '../../bench/agent-load-fleet.js'
import { closedLoop, failureKey, parseCpuMs, summarize } from '../../bench/agent-load-run.js'
import { loadServerConf } from '../../bench/agent-load-server.js'
import { runAgentLoad } from '../../bench/agent-load.js'
import { issueCertificate, type IssuedCert } from '../azure-emulator/cert-builder.js'
import { AZURE_FIXTURES_DIR, REPO_ROOT } from '../support/paths.js'
import { ensureSpire, SPIRE_VERSION } from '../support/spire.js'

describe('agent-load: the closed loop', () => {
  test('runs every index once with at most C in flight, and groups failures by message', async () => {
    let t = 0
    let inFlight = 0
    let peak = 0
    const seen: number[] = []
    const r = await closedLoop({
      attempts: 20,
      concurrency: 3,
      now: () => t,
      attempt: async (i) => {
        inFlight++
        peak = Math.max(peak, inFlight)
        seen.push(i)
        await new Promise((res) => setImmediate(res))
        t += 10
        inFlight--
        if (i % 5 === 0) throw new Error(`refused spiffe://example.org/spire/agent/x/vm-${i}`)
      },
    })
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i),
    )
    assert.equal(peak, 3)
    assert.equal(r.ok, 16)
    assert.equal(r.failed, 4)
    assert.deepEqual(r.failures, { 'refused <spiffe-id>': 4 })
    assert.equal(r.latenciesMs.length, 16)
  })

  test('percentiles are nearest-rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i) // 100 … 1
    assert.deepEqual(summarize(xs), { p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 })
    assert.ok(Number.isNaN(summarize([]).p50))
  })

  test('failure keys mask what differs per agent', () => {
    assert.equal(
      failureKey(new Error('VM fleet/flex/12 (0a1b2c3d-1111-2222-3333-444455556666) refused')),
      'VM fleet/flex/<n> (<guid>) refused',
    )
  })

  test('CPU time comes from /proc/<pid>/stat fields 14 and 15, after a name with spaces', () => {
    const stat = '42 (spire server) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 1 1 1'
    assert.equal(parseCpuMs(stat), 3000)
  })
})

describe('agent-load: the fleet', () => {
  test('splits by weight; azure_msi gets no Uniform members (they share one identity)', () => {
    assert.deepEqual(splitFleet(100, '1:4.5:4.5', 'azure_imds'), {
      standalone: 10,
      flexible: 45,
      uniform: 45,
    })
    assert.deepEqual(splitFleet(100, '1:4.5:4.5', 'azure_msi'), {
      standalone: 10,
      flexible: 90,
      uniform: 0,
    })
    assert.throws(() => splitFleet(10, '1:2', 'azure_imds'), /three non-negative weights/)
  })

  test('orders the VMs with the kinds interleaved, each VM once', () => {
    const order = fleetOrder({ standalone: 2, flexible: 4, uniform: 4 })
    assert.equal(new Set(order).size, 10)
    assert.deepEqual(
      order
        .slice(0, 5)
        .map((k) => k.split('/')[1]!.replace(/-\d+$/, ''))
        .sort(),
      ['flex', 'flex', 'uni', 'uni', 'vm'],
    )
  })
})

describe('agent-load: the agent CSR', () => {
  test('is a PKCS#10 request for the agent key, subject C=US, O=SPIRE, self-signature valid', async () => {
    const key = newAgentKey()
    const csr = pkijs.CertificationRequest.fromBER(key.csr)
    assert.equal(
      csr.subject.typesAndValues.map((tv) => tv.value.valueBlock.value).join(','),
      'US,SPIRE',
    )
    assert.equal(csr.signatureAlgorithm.algorithmId, '1.2.840.10045.4.3.2')
    assert.deepEqual(Buffer.from(csr.subjectPublicKeyInfo.toSchema().toBER(false)), key.spki)
    assert.equal(await csr.verify(), true)
    assert.ok(asn1js.fromBER(key.csr).offset === key.csr.length)
  })
})

describe('agent-load: reading certificates without X509Certificate', () => {
  const pem = (f: string): string => readFileSync(join(AZURE_FIXTURES_DIR, f), 'utf8')
  const root = pem('roots/digicert_global_root_g2.pem')
  const issuing = pem(
    'intermediates/microsoft_azure_rsa_tls_issuing_ca_03__by_digicert_global_root_g2.pem',
  )

  test('finds the key, names and signature node:crypto finds', () => {
    const x = new X509Certificate(issuing)
    const parts = certParts(x.raw)
    assert.deepEqual(parts.spki, x.publicKey.export({ type: 'spki', format: 'der' }))
    assert.equal(parts.hash, 'sha384') // sha384WithRSAEncryption
    assert.equal(parts.uris.length, 0)
    const [ca] = parseBundle(root)
    assert.deepEqual(parts.issuer, ca!.subject)
    assert.equal(x.verify(ca!.key), true)
  })

  test('the agent key’s SubjectPublicKeyInfo is what a DER export gives', () => {
    const key = newAgentKey()
    assert.deepEqual(
      createPublicKey(key.privateKey).export({ type: 'spki', format: 'der' }),
      key.spki,
    )
  })
})

describe('agent-load: the SVID check', () => {
  const NOW = new Date('2026-12-02T00:00:00Z')
  const ca = (): { cert: IssuedCert; key: KeyObject } => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const cert = issueCertificate({
      subject: [
        ['C', 'US'],
        ['O', 'SPIFFE'],
      ],
      publicKey,
      signingKey: privateKey,
      notBefore: NOW,
      notAfter: new Date(NOW.getTime() + 86_400_000),
      hash: 'sha256',
      ca: {},
    })
    return { cert, key: privateKey }
  }
  /** An X509-SVID as spire-server issues one: the agent's key, one URI SAN, signed by the CA. */
  const svid = (id: string, publicKey: KeyObject, issuer: ReturnType<typeof ca>): Buffer => {
    const alg = () => new pkijs.AlgorithmIdentifier({ algorithmId: '1.2.840.10045.4.3.2' })
    const cert = new pkijs.Certificate()
    cert.version = 2
    cert.serialNumber = new asn1js.Integer({ value: 7 })
    cert.signature = alg()
    cert.issuer = issuer.cert.pkijs.subject
    cert.subject = new pkijs.RelativeDistinguishedNames()
    cert.notBefore = new pkijs.Time({ type: 0, value: NOW })
    cert.notAfter = new pkijs.Time({ type: 0, value: new Date(NOW.getTime() + 3_600_000) })
    cert.subjectPublicKeyInfo = pkijs.PublicKeyInfo.fromBER(
      publicKey.export({ type: 'spki', format: 'der' }),
    )
    const names = new pkijs.GeneralNames({ names: [new pkijs.GeneralName({ type: 6, value: id })] })
    cert.extensions = [
      new pkijs.Extension({
        extnID: '2.5.29.17',
        critical: false,
        extnValue: names.toSchema().toBER(false),
      }),
    ]
    cert.signatureAlgorithm = alg()
    cert.tbsView = new Uint8Array(cert.encodeTBS().toBER(false))
    cert.signatureValue = new asn1js.BitString({
      valueHex: sign('sha256', cert.tbsView, issuer.key),
    })
    return Buffer.from(cert.toSchema(false).toBER(false))
  }
  const ID = 'spiffe://example.org/spire/agent/cr_test/n-1'

  test('accepts the agent’s own SVID from the bundle’s CA and returns its ID', () => {
    const authority = ca()
    const key = newAgentKey()
    const chain = [svid(ID, createPublicKey(key.privateKey), authority)]
    const bundle = parseBundle(authority.cert.pem)
    assert.equal(checkSvid(chain, key, { agentId: ID }, bundle), ID)
    assert.equal(
      checkSvid(chain, key, { agentId: ID.slice(0, ID.lastIndexOf('/')), idPrefix: true }, bundle),
      ID,
    )
  })

  test('refuses another ID, another key, another CA, and a chain without a URI SAN', () => {
    const authority = ca()
    const key = newAgentKey()
    const chain = [svid(ID, createPublicKey(key.privateKey), authority)]
    const bundle = parseBundle(authority.cert.pem)
    assert.throws(() => checkSvid(chain, key, { agentId: `${ID}0` }, bundle), /agent ID .*expected/)
    assert.throws(
      () => checkSvid(chain, newAgentKey(), { agentId: ID }, bundle),
      /not for the CSR key/,
    )
    assert.throws(
      () => checkSvid(chain, key, { agentId: ID }, parseBundle(ca().cert.pem)),
      /not issued by the trust bundle/,
    )
    assert.equal(checkSvid(chain, key, { agentId: ID }, undefined), ID, 'no bundle: no chain check')
    assert.throws(() => checkSvid([authority.cert.der], key, { agentId: ID }, bundle), /0 URI SANs/)
    assert.throws(() => checkSvid([], key, { agentId: ID }, bundle), /empty certificate chain/)
  })
})

describe('agent-load: server config', () => {
  test('turns the attestation rate limit off inside the server block, at INFO', () => {
    const conf = loadServerConf({
      serverBin: 'spire-server',
      attestors: ['cr_test'],
      dir: '/tmp/x',
      port: 1,
    })
    assert.match(conf, /server \{[^}]*ratelimit \{\s*attestation = false\s*\}/)
    assert.match(conf, /log_level = "INFO"/)
  })

  test('refuses azure_msi with fewer VMs than attestations (TOFU would refuse the repeats)', async () => {
    await assert.rejects(
      runAgentLoad({
        attestors: ['azure_msi'],
        attestations: 10,
        concurrency: 2,
        warmup: 0,
        vms: 3,
      }),
      /azure_msi needs one VM per attestation/,
    )
  })
})

const installed = ensureSpire()
const skip = 'skip' in installed ? installed.skip : false
const serverBin = 'skip' in installed ? '' : installed.server

const ID = {
  cr_test: /^spiffe:\/\/example\.org\/spire\/agent\/cr_test\/agent-load-[0-9a-f]{8}-\d+$/,
  azure_msi: /^spiffe:\/\/example\.org\/spire\/agent\/azure_msi\/[0-9a-f-]{36}\/[0-9a-f-]{36}$/,
  azure_imds:
    /^spiffe:\/\/example\.org\/spire\/agent\/azure_imds\/[0-9a-f-]{36}\/[0-9a-f-]{36}\/[0-9a-f-]{36}$/,
}

describe(`agent-load through real SPIRE v${SPIRE_VERSION}`, { skip, timeout: 300_000 }, () => {
  test('51 first attestations across azure_msi, azure_imds and the test attestor: all issued, right IDs', async () => {
    const r = await runAgentLoad({
      attestors: ['cr_test', 'azure_msi', 'azure_imds'],
      attestations: 51,
      concurrency: 8,
      warmup: 0,
      serverBin,
      recordIds: true,
    })
    assert.deepEqual(r.failures, {})
    assert.equal(r.failed, 0)
    assert.equal(r.ok, 51)
    const ids = r.ids ?? []
    assert.equal(ids.length, 51)
    assert.equal(new Set(ids).size, 51, 'one agent per attestation')
    for (const name of ['cr_test', 'azure_msi', 'azure_imds'] as const) {
      const mine = ids.filter((id) => id.includes(`/spire/agent/${name}/`))
      assert.equal(mine.length, 17, name)
      for (const id of mine) assert.match(id, ID[name])
    }
    assert.equal(r.agentCount, 51)
    assert.equal(r.fleet.azure_msi?.uniform, 0)
    assert.ok((r.fleet.azure_imds?.uniform ?? 0) > 0)
    assert.equal(r.plugins.length, 3)
  })

  test('azure_imds VMs attest again under a {{ .Nonce }} template; one connection per worker, insecure bootstrap', async () => {
    const r = await runAgentLoad({
      attestors: ['azure_imds'],
      attestations: 9,
      concurrency: 3,
      warmup: 0,
      vms: 3,
      connection: 'per-worker',
      insecureBootstrap: true,
      serverBin,
      recordIds: true,
    })
    assert.deepEqual(r.failures, {})
    assert.equal(r.ok, 9)
    assert.match(r.imdsAgentPathTemplate ?? '', /\{\{ \.Nonce \}\}$/)
    const ids = r.ids ?? []
    assert.equal(new Set(ids).size, 9)
    const vms = new Set(ids.map((id) => id.slice(0, id.lastIndexOf('/'))))
    assert.equal(vms.size, 3, 'three VMs, three attestations each')
    for (const vm of vms) assert.match(vm, ID.azure_imds)
    assert.equal(r.agentCount, 9)
  })

  test('npm run bench -- agent-load writes the JSON report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-load-cli-'))
    try {
      const out = join(dir, 'agent-load.json')
      const args = ['--attestor', 'cr_test', '--attestations', '4', '--concurrency', '2']
      const r = spawnSync(
        'npm',
        ['run', '--silent', 'bench', '--', 'agent-load', ...args, '--warmup', '1', '--out', out],
        { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 },
      )
      assert.equal(r.status, 0, r.stderr)
      const json = JSON.parse(readFileSync(out, 'utf8')) as {
        runs: {
          command: string
          machine: { cpus: number }
          scenarios: { attestors: string[]; ok: number; failed: number; agentCount: number }[]
        }[]
      }
      assert.equal(json.runs.length, 1)
      assert.match(json.runs[0]!.command, /^npm run bench -- agent-load --attestor cr_test/)
      const [s] = json.runs[0]!.scenarios
      assert.deepEqual(s?.attestors, ['cr_test'])
      assert.equal(s?.ok, 4)
      assert.equal(s?.failed, 0)
      assert.equal(s?.agentCount, 5, 'warm-up included')
      assert.match(r.stdout, /\| cr_test \| 4 at 2 \|/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
