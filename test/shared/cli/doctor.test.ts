import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, request, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { runCli } from '../../../shared/cli/cli.js'
import { startEmulator, type Emulator, type Signer } from '../../azure-emulator/index.js'
import { REPO_ROOT } from '../../support/paths.js'
import { freePort } from '../../support/spire.js'
import { recordingIo, type RecordingIo } from './io.js'

/**
 * `spire-azure doctor` end to end against the emulated IMDS, Entra, ARM and AIA issuers: the
 * agents' fetches, the servers' verification, what it prints and how it exits.
 */
let emu: Emulator
/** While set, the emulator's injected latency waits for `hold.released` instead of a timer. */
let hold: { released: Promise<void>; waiting: number } | undefined
const dirs: string[] = []

before(async () => {
  emu = await startEmulator({
    sleep: (ms) => {
      if (hold === undefined) return new Promise((resolve) => setTimeout(resolve, ms))
      hold.waiting++
      return hold.released
    },
  })
})

after(async () => {
  await emu?.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  assert.deepEqual(emu.errors, [])
})

/** doctor's options for the emulator: its endpoints and its roots, as the servers' configs give them. */
function emulatorArgs(imdsEndpoint: string): string[] {
  const e = emu.endpoints
  return [
    'doctor',
    '--imds-endpoint',
    imdsEndpoint,
    '--authority-host',
    e.entra,
    '--resource-manager',
    e.arm,
    '--aia-issuers',
    e.issuers,
    '--ca-file',
    e.caFile,
  ]
}

/** The CLI's clock is the emulator's (plus `aheadMs`): tokens and documents are judged at its time. */
async function doctor(
  vm: string | { endpoint: string },
  extra: string[] = [],
  aheadMs = 0,
): Promise<{ code: number; io: RecordingIo }> {
  const endpoint = typeof vm === 'string' ? emu.endpoints.imdsFor(vm) : vm.endpoint
  const io = recordingIo({ now: emu.now().getTime() + aheadMs })
  const code = await runCli([...emulatorArgs(endpoint), ...extra], io)
  return { code, io }
}

/** `[step, status, name]` of each step line. */
function steps(out: string): [number, string, string][] {
  return [...out.matchAll(/^(\d)\. (ok|FAIL|warn|skip) +([^:]+):/gm)].map((m) => [
    Number(m[1]),
    m[2]!,
    m[3]!,
  ])
}

/** The token the emulated IMDS hands this VM (it caches, so doctor got this very string). */
async function imdsToken(vm: string, clientId?: string): Promise<string> {
  const q = `api-version=2018-02-01&resource=${encodeURIComponent('https://management.azure.com/')}${
    clientId === undefined ? '' : `&client_id=${clientId}`
  }`
  const body = await get(`${emu.endpoints.imdsFor(vm)}/metadata/identity/oauth2/token?${q}`)
  return (JSON.parse(body) as { access_token: string }).access_token
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Metadata: 'true' } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    })
    req.on('error', reject)
    req.end()
  })
}

/** No JWT anywhere in the text. */
function assertNoJwt(text: string): void {
  assert.doesNotMatch(text, /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\./)
}

/**
 * An IMDS in front of the emulated one for `vm` that answers attested-document requests with a
 * document `signer` signs (for the nonce asked), and forwards everything else.
 */
async function imdsSigningWith(
  vm: string,
  signer: Signer,
): Promise<{ url: string; server: Server }> {
  const upstream = emu.endpoints.imdsFor(vm)
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://imds')
    if (url.pathname === '/metadata/attested/document') {
      const nonce = url.searchParams.get('nonce') ?? undefined
      const doc = emu.documents.signAttestedDocument({ vm, signer, ...(nonce ? { nonce } : {}) })
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc.body))
      return
    }
    const fwd = request(`${upstream}${url.pathname}${url.search}`, {
      headers: { Metadata: 'true' },
    })
    fwd.on('response', (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    fwd.on('error', () => res.writeHead(502).end())
    fwd.end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  return { url: `http://127.0.0.1:${port}`, server }
}

const closeServer = (s: Server) => new Promise<void>((resolve) => s.close(() => resolve()))

describe('spire-azure doctor against the emulated IMDS', { timeout: 120_000 }, () => {
  test('a standalone VM: every step ok, exit 0, the token and document redacted', async () => {
    const vm = emu.world.vm('frontend/blog')
    const tid = emu.world.tenant('contoso').tenantId
    const sub = vm.resourceGroup.subscription.subscriptionId
    const principal = vm.identity.system!.principalId
    const { code, io } = await doctor('frontend/blog', ['--list-identities'])
    assert.equal(code, 0, io.out + io.err)
    assert.deepEqual(steps(io.out), [
      [1, 'ok', 'IMDS reachable'],
      [2, 'ok', 'system-assigned identity'],
      [2, 'ok', 'identities per ARM'],
      [3, 'ok', 'attested document'],
      [4, 'ok', 'token of system-assigned identity'],
      [4, 'ok', 'attested document'],
      [5, 'ok', 'azure_msi, system-assigned identity'],
      [5, 'ok', 'azure_imds'],
    ])
    assert.match(io.out, new RegExp(`^1\\. ok +IMDS reachable: VM blog \\(vmId ${vm.vmId}\\)`, 'm'))
    assert.ok(io.out.includes(`system-assigned (principal ${principal}, checked)`))
    // what the server would see, under the default agent_path_template
    assert.ok(
      io.out.includes(`agent ID spiffe://example.org/spire/agent/azure_msi/${tid}/${principal}`),
    )
    assert.ok(
      io.out.includes(
        `agent ID spiffe://example.org/spire/agent/azure_imds/${tid}/${sub}/${vm.vmId}`,
      ),
    )
    // the plugin_data that accepts the VM, keyed by the tenant
    assert.ok(
      io.out.includes(
        `NodeAttestor "azure_msi" {\n    plugin_data {\n        tenants = {\n            "${tid}" = {\n                subscription_id = "${sub}"`,
      ),
    )
    assert.ok(io.out.includes(`tenant_domain = "${tid}"`))
    assert.match(io.out, /\nAll steps passed\.\n$/)
    // secrets: the token IMDS gave this VM appears nowhere, nor does the document
    const token = await imdsToken('frontend/blog')
    assert.ok(!io.out.includes(token) && !io.err.includes(token))
    assertNoJwt(io.out + io.err)
    assert.match(io.out, /token for https:\/\/management\.azure\.com\/: <redacted, \d+ chars>/)
    assert.match(io.out, /pkcs7, signature <redacted, \d+ chars>/)
    assert.equal(io.err, '')
  })

  test('scale-set instances, Uniform and Flexible: every step ok', async () => {
    for (const handle of ['frontend/web/0', 'frontend/flex/0']) {
      const vm = emu.world.vm(handle)
      // a Uniform instance has its scale set's identity, a Flexible member its own
      const principal = vm.identity.system!.principalId
      const { code, io } = await doctor(handle, ['--list-identities'])
      assert.equal(code, 0, io.out + io.err)
      assert.ok(
        steps(io.out).every(([, status]) => status === 'ok'),
        io.out,
      )
      assert.match(io.out, new RegExp(`scale set ${vm.scaleSet!.name}, AzurePublicCloud`))
      assert.ok(io.out.includes(`system-assigned (principal ${principal}, checked)`), io.out)
      assert.ok(io.out.includes(`/azure_msi/${emu.world.tenant('contoso').tenantId}/${principal}`))
      assert.ok(
        io.out.includes(`vmId ${vm.vmId}; agent ID spiffe://example.org/spire/agent/azure_imds/`),
      )
      assertNoJwt(io.out + io.err)
    }
  })

  test('a VM in the US Government cloud: its ARM audience, issuer and metadata domain', async () => {
    const { code, io } = await doctor('gov/gov-vm')
    assert.equal(code, 0, io.out)
    assert.ok(
      steps(io.out).every(([, status]) => status === 'ok'),
      io.out,
    )
    assert.match(io.out, /^1\. ok +IMDS reachable: VM gov-vm .*, AzureUSGovernmentCloud$/m)
    assert.match(
      io.out,
      /^2\. ok +system-assigned identity: token for https:\/\/management\.usgovcloudapi\.net\/: /m,
    )
    assert.match(
      io.out,
      /^4\. ok +attested document: signature by .*\(SAN usgovvirginia\.metadata\.azure\.us /m,
    )
    // the server blocks name the cloud; the agent must ask for the cloud's ARM audience
    assert.equal(io.out.split('cloud_environment = "AzureUSGovernmentCloud"').length, 3)
    assert.ok(io.out.includes('resource_id = "https://management.usgovcloudapi.net/"'))
  })

  test('a user-assigned identity by client ID: its token, verified, and what the server sees', async () => {
    const vm = emu.world.vm('frontend/worker')
    const [api, batch] = vm.identity.userAssigned
    const { code, io } = await doctor('frontend/worker', [
      '--client-id',
      api!.clientId,
      '--list-identities',
    ])
    assert.equal(code, 0, io.out + io.err)
    const name = `user-assigned identity client_id ${api!.clientId}`
    assert.deepEqual(
      steps(io.out).filter(([, , n]) => n.includes(api!.clientId)),
      [
        [2, 'ok', name],
        [4, 'ok', `token of ${name}`],
        [5, 'ok', `azure_msi, ${name}`],
      ],
    )
    // the server sees the identity's principal, its resource and the VM holding it
    const line = io.out.split('\n').find((l) => l.startsWith(`5. ok    azure_msi, ${name}`))!
    assert.ok(line.includes(`principal ${api!.principalId}, client ${api!.clientId}`), line)
    assert.match(
      line,
      /xms_mirid \/subscriptions\/.*\/userAssignedIdentities\/api-identity, xms_az_rid \/subscriptions\/.*\/virtualMachines\/worker;/i,
    )
    assert.ok(
      line.endsWith(`/azure_msi/${emu.world.tenant('contoso').tenantId}/${api!.principalId}`),
    )
    // ARM lists the identity doctor was not asked about, and how to check it
    assert.ok(io.out.includes(`check it with --client-id ${batch!.clientId}`), io.out)
    // the agent's plugin_data for that identity names it
    assert.ok(io.out.includes(`client_id = "${api!.clientId}"`))
    const token = await imdsToken('frontend/worker', api!.clientId)
    assert.ok(!io.out.includes(token))
    assertNoJwt(io.out + io.err)
  })

  test('user-assigned identities by object ID and by resource ID', async () => {
    const [api, batch] = emu.world.vm('frontend/worker').identity.userAssigned
    const { code, io } = await doctor('frontend/worker', [
      '--object-id',
      batch!.principalId,
      '--msi-res-id',
      api!.id,
    ])
    assert.equal(code, 0, io.out)
    for (const [kind, value, principal] of [
      ['object_id', batch!.principalId, batch!.principalId],
      ['msi_res_id', api!.id, api!.principalId],
    ] as const) {
      const name = `user-assigned identity ${kind} ${value}`
      assert.ok(io.out.includes(`\n2. ok    ${name}: token for `), name)
      assert.ok(io.out.includes(`\n4. ok    token of ${name}: signature `), name)
      assert.match(
        io.out,
        new RegExp(`^5\\. ok +azure_msi, ${escape(name)}: .*/${principal}$`, 'm'),
      )
      assert.ok(io.out.includes(`${kind} = "${value}"`), `agent plugin_data names ${kind}`)
    }
  })

  test('a user-assigned identity the VM does not have: that step fails, exit 1', async () => {
    const stranger = '0d0c0b0a-0000-4000-8000-000000000001'
    const { code, io } = await doctor('frontend/blog', ['--client-id', stranger])
    assert.equal(code, 1)
    assert.match(
      io.out,
      new RegExp(
        `^2\\. FAIL  user-assigned identity client_id ${stranger}: unable to fetch token: unexpected status code 400: .*Identity not found`,
        'm',
      ),
    )
    assert.match(
      io.out,
      new RegExp(`\\n1 step failed: 2\\. user-assigned identity client_id ${stranger}\\n$`),
    )
  })

  test('a VM without identities: a warning for azure_msi, azure_imds still accepts it, exit 0', async () => {
    const { code, io } = await doctor('frontend/plain')
    assert.equal(code, 0, io.out)
    assert.deepEqual(steps(io.out), [
      [1, 'ok', 'IMDS reachable'],
      [2, 'warn', 'default identity'],
      [3, 'ok', 'attested document'],
      [4, 'ok', 'attested document'],
      [5, 'warn', 'azure_msi'],
      [5, 'ok', 'azure_imds'],
    ])
    assert.ok(io.out.includes('NodeAttestor "azure_imds"'))
    assert.ok(!io.out.includes('NodeAttestor "azure_msi"'))
    assert.match(io.out, /All steps passed \(2 warnings\)\.\n$/)
  })

  test('IMDS unreachable: step 1 fails with the reason, the others are skipped, exit 1', async () => {
    const port = await freePort()
    const { code, io } = await doctor({ endpoint: `http://127.0.0.1:${port}` })
    assert.equal(code, 1)
    assert.deepEqual(steps(io.out), [
      [1, 'FAIL', 'IMDS reachable'],
      [2, 'skip', 'managed identities'],
      [3, 'skip', 'attested document'],
      [4, 'skip', 'verification'],
      [5, 'skip', 'what the server sees'],
    ])
    assert.match(
      io.out,
      new RegExp(
        `^1\\. FAIL  IMDS reachable: IMDS at http://127\\.0\\.0\\.1:${port} is unreachable \\(connect ECONNREFUSED [^)]*\\): not an Azure VM`,
        'm',
      ),
    )
    assert.match(io.out, /\n1 step failed: 1\. IMDS reachable\n$/)
  })

  test('a document signed under an untrusted root, or by an expired certificate: step 4 fails, exit 1', async () => {
    const cases = [
      { signer: emu.pki.bad.rogueRoot, reason: 'no_aia' },
      { signer: emu.pki.bad.expired, reason: 'certificate_expired' },
    ]
    for (const c of cases) {
      const imds = await imdsSigningWith('frontend/blog', c.signer)
      try {
        const { code, io } = await doctor({ endpoint: imds.url })
        assert.equal(code, 1, io.out)
        const line = io.out.split('\n').find((l) => l.startsWith('4. FAIL  attested document: '))
        assert.ok(line !== undefined, io.out)
        assert.match(
          line,
          /failed to validate attested document: certificate chain validation failed: /,
        )
        assert.ok(line.endsWith(`(${c.reason})`), line)
        // the token is still fine, and azure_imds has nothing to accept
        assert.match(io.out, /^4\. ok +token of system-assigned identity/m)
        assert.match(io.out, /^5\. warn  azure_imds: no verified document/m)
        assert.ok(!io.out.includes('NodeAttestor "azure_imds"'))
      } finally {
        await closeServer(imds.server)
      }
    }
  })

  test('an expired document (the clock 7 hours on): step 4 fails with the server’s reason', async () => {
    const { code, io } = await doctor('frontend/blog', [], 7 * 3_600_000)
    assert.equal(code, 1, io.out)
    assert.match(
      io.out,
      /^4\. FAIL  attested document: attested document has expired \(expiresOn [^)]+\) \(document_expired\)$/m,
    )
    // the 24-hour token is still valid
    assert.match(io.out, /^4\. ok +token of system-assigned identity: .* \(in 1[67]h \d+m\)$/m)
  })

  test('--json: one document with every step, what the server sees and the plugin_data', async () => {
    const vm = emu.world.vm('frontend/blog')
    const tid = emu.world.tenant('contoso').tenantId
    const { code, io } = await doctor('frontend/blog', ['--json', '--trust-domain', 'td.example'])
    assert.equal(code, 0, io.out)
    const doc = JSON.parse(io.out) as Record<string, unknown>
    assert.deepEqual(Object.keys(doc), ['ok', 'imdsEndpoint', 'steps', 'server', 'pluginData'])
    assert.equal(doc['ok'], true)
    const all = doc['steps'] as Record<string, unknown>[]
    assert.equal(all.length, 7)
    for (const s of all) {
      assert.deepEqual(Object.keys(s), ['step', 'name', 'status', 'detail'])
      assert.equal(typeof s['name'], 'string')
      assert.equal(typeof s['detail'], 'string')
      assert.equal(s['status'], 'ok')
    }
    assert.deepEqual(
      all.map((s) => s['step']),
      [1, 2, 3, 4, 4, 5, 5],
    )
    const server = doc['server'] as {
      azure_msi: Record<string, unknown>[]
      azure_imds: Record<string, unknown>
    }
    assert.equal(server.azure_msi.length, 1)
    assert.equal(server.azure_msi[0]!['principalId'], vm.identity.system!.principalId)
    assert.equal(
      server.azure_msi[0]!['agentId'],
      `spiffe://td.example/spire/agent/azure_msi/${tid}/${vm.identity.system!.principalId}`,
    )
    assert.equal(server.azure_imds['vmId'], vm.vmId)
    assert.equal(
      server.azure_imds['agentId'],
      `spiffe://td.example/spire/agent/azure_imds/${tid}/${vm.resourceGroup.subscription.subscriptionId}/${vm.vmId}`,
    )
    const pluginData = doc['pluginData'] as Record<string, { server: string }>
    assert.deepEqual(Object.keys(pluginData), ['azure_msi', 'azure_imds'])
    assert.ok(pluginData['azure_msi']!.server.includes(`"${tid}" = {`))
    assertNoJwt(io.out)
    assert.equal(io.err, '')
  })

  test('--show-secrets prints the token and the document', async () => {
    const { code, io } = await doctor('frontend/blog', ['--show-secrets'])
    assert.equal(code, 0)
    assert.ok(io.out.includes(await imdsToken('frontend/blog')))
    assert.doesNotMatch(io.out, /<redacted/)
  })

  test('a step slower than a second says so on stderr', async () => {
    let release = () => {}
    const held = { released: new Promise<void>((resolve) => (release = resolve)), waiting: 0 }
    hold = held
    emu.faults.set('imds.instance', { kind: 'latency', ms: 60_000 }, { times: 1 })
    try {
      const io = recordingIo({ now: emu.now().getTime() })
      const run = runCli(emulatorArgs(emu.endpoints.imdsFor('frontend/blog')), io)
      // IMDS is holding the instance request and step 1's progress timer is pending: it fires
      while (held.waiting === 0 || io.pending.length === 0) {
        await new Promise((resolve) => setImmediate(resolve))
      }
      io.fireTimers()
      hold = undefined
      release()
      assert.equal(await run, 0, io.out)
      const endpoint = emu.endpoints.imdsFor('frontend/blog')
      assert.equal(io.err, `Asking IMDS at ${endpoint}…\nAsking IMDS at ${endpoint}: done\n`)
    } finally {
      hold = undefined
      release()
      emu.faults.clear('imds.instance')
    }
  })

  test('usage mistakes exit 2 with the option named', async () => {
    const cases: [string[], RegExp][] = [
      [['--client-id', 'nope'], /--client-id "nope" must be a GUID/],
      [
        ['--msi-res-id', '/subscriptions/x'],
        /--msi-res-id ".*" is not a user-assigned identity resource ID/,
      ],
      [['--timeout', '0s'], /--timeout "0s" must be a positive duration/],
      [['--cloud', 'AzureMars'], /--cloud "AzureMars" is not one of/],
      [
        ['--authority-host', 'http://login.example.com'],
        /--authority-host "http:\/\/login\.example\.com" must use https/,
      ],
    ]
    for (const [args, message] of cases) {
      const io = recordingIo()
      assert.equal(await runCli(['doctor', ...args], io), 2, args.join(' '))
      assert.match(io.err, message)
      assert.match(io.err, /\nhint: see 'spire-azure doctor --help'\n$/)
      assert.equal(io.out, '')
    }
  })
})

describe('spire-azure doctor --server-config', { timeout: 120_000 }, () => {
  const serverConf = (plugins: string): string => {
    const dir = mkdtempSync(join(tmpdir(), 'spire-azure-doctor-'))
    dirs.push(dir)
    const path = join(dir, 'server.conf')
    writeFileSync(
      path,
      `server {\n  trust_domain = "prod.example"\n  data_dir = "/tmp/x"\n}\nplugins {\n${plugins}\n}\n`,
    )
    return path
  }
  const block = (name: string, data: string, cmd: string | null = `/opt/spire/plugins/${name}`) =>
    `  NodeAttestor "${name}" {\n${cmd === null ? '' : `    plugin_cmd = "${cmd}"\n`}    plugin_data {\n${data}\n    }\n  }`
  const suggested = async (): Promise<Record<string, { server: string }>> => {
    const { io } = await doctor('frontend/blog', ['--json'])
    return (JSON.parse(io.out) as { pluginData: Record<string, { server: string }> }).pluginData
  }

  test('the plugin_data doctor suggests is accepted by a server.conf holding it', async () => {
    const data = await suggested()
    const path = serverConf(
      [
        // ours under another name (by its plugin_cmd), and a block SPIRE's built-in plugin would run
        block(
          'msi_prod',
          data['azure_msi']!.server,
          '/opt/spire/bin/spire-server-nodeattestor-azure-msi',
        ),
        block('azure_imds', data['azure_imds']!.server, null),
      ].join('\n'),
    )
    const { code, io } = await doctor('frontend/blog', ['--server-config', path])
    assert.equal(code, 0, io.out)
    const tid = emu.world.tenant('contoso').tenantId
    assert.match(
      io.out,
      new RegExp(
        `^5\\. ok +${escape(path)}: msi_prod: accepts system-assigned identity as spiffe://prod\\.example/spire/agent/azure_msi/${tid}/[0-9a-f-]+$`,
        'm',
      ),
    )
    assert.match(
      io.out,
      new RegExp(
        `^5\\. ok +${escape(path)}: azure_imds: accepts the document \\(agent tenant_domain "${tid}"\\) as spiffe://prod\\.example/spire/agent/azure_imds/${tid}/.* \\(no plugin_cmd: SPIRE runs its built-in plugin; checked with this project’s\\)$`,
        'm',
      ),
    )
  })

  test('subscription_id is compared as the server compares it: in any case', async () => {
    const data = await suggested()
    const sub = emu.world.vm('frontend/blog').resourceGroup.subscription.subscriptionId
    const msi = data['azure_msi']!.server
    assert.ok(msi.includes(`subscription_id = "${sub}"`), msi)
    const upper = msi.replace(
      `subscription_id = "${sub}"`,
      `subscription_id = "${sub.toUpperCase()}"`,
    )
    const path = serverConf(block('azure_msi', upper))
    const { code, io } = await doctor('frontend/blog', ['--server-config', path])
    assert.equal(code, 0, io.out)
    assert.match(io.out, new RegExp(`^5\\. ok +${escape(path)}: azure_msi: accepts `, 'm'))
  })

  test('a server.conf that refuses the VM: each refusal with the server’s reason, exit 1', async () => {
    const data = await suggested()
    const other = '0d0c0b0a-0000-4000-8000-000000000002'
    const msi = data['azure_msi']!.server.replace(
      /# principal_ids = \[[^\]]*\][^\n]*/,
      `principal_ids = ["${other}"]`,
    )
    const imds = data['azure_imds']!.server.replace(
      /# restrict_to_subscriptions = \[[^\]]*\][^\n]*/,
      `restrict_to_subscriptions = ["${other}"]`,
    )
    const path = serverConf([block('azure_msi', msi), block('azure_imds', imds)].join('\n'))
    const { code, io } = await doctor('frontend/blog', ['--server-config', path])
    assert.equal(code, 1, io.out)
    const vm = emu.world.vm('frontend/blog')
    assert.ok(
      io.out.includes(
        `5. FAIL  ${path}: azure_msi: refuses system-assigned identity: principal "${vm.identity.system!.principalId}" is not authorized (principal_not_authorized)`,
      ),
      io.out,
    )
    assert.ok(
      io.out.includes(
        `5. FAIL  ${path}: azure_imds: refuses the document: subscription "${vm.resourceGroup.subscription.subscriptionId}" is not authorized (subscription_not_authorized)`,
      ),
      io.out,
    )
  })

  test('a server.conf without our attestors is a warning; invalid plugin_data or no file fails', async () => {
    const none = serverConf('  KeyManager "memory" {\n    plugin_data {}\n  }')
    const a = await doctor('frontend/blog', ['--server-config', none])
    assert.equal(a.code, 0)
    assert.ok(
      a.io.out.includes(
        `5. warn  server config ${none}: it configures neither the azure_msi nor the azure_imds NodeAttestor`,
      ),
    )
    const bad = serverConf(block('azure_msi', '      tenants = {}'))
    const b = await doctor('frontend/blog', ['--server-config', bad])
    assert.equal(b.code, 1)
    assert.ok(
      b.io.out.includes(
        `5. FAIL  ${bad}: azure_msi: invalid plugin_data: configuration must have at least one tenant`,
      ),
      b.io.out,
    )
    const missing = join(tmpdir(), 'spire-azure-doctor-no-such-dir', 'server.conf')
    const c = await doctor('frontend/blog', ['--server-config', missing])
    assert.equal(c.code, 1)
    assert.ok(
      c.io.out.includes(`5. FAIL  server config ${missing}: unable to read configuration at`),
      c.io.out,
    )
  })
})

describe('the built spire-azure runs doctor', { timeout: 60_000 }, () => {
  test('dist/bin/spire-azure doctor --json against the emulator: exit 0, every step ok', async () => {
    const bin = join(REPO_ROOT, 'dist', 'bin', 'spire-azure')
    const args = [...emulatorArgs(emu.endpoints.imdsFor('frontend/blog')).slice(1), '--json']
    // asynchronously: the emulator answering it runs in this process
    const { code, stdout, stderr } = await new Promise<{
      code: number
      stdout: string
      stderr: string
    }>((resolve) => {
      execFile(
        process.execPath,
        [bin, 'doctor', ...args],
        { timeout: 50_000 },
        (err, stdout, stderr) =>
          resolve({
            code: err === null ? 0 : Number((err as { code?: number }).code ?? -1),
            stdout,
            stderr,
          }),
      )
    })
    assert.equal(code, 0, stdout + stderr)
    const doc = JSON.parse(stdout) as { ok: boolean; steps: { status: string }[] }
    assert.equal(doc.ok, true)
    assert.ok(doc.steps.every((s) => s.status === 'ok'))
    assertNoJwt(stdout + stderr)
  })
})

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
