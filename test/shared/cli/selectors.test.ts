import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { runCli } from '../../../shared/cli/cli.js'
import { startEmulator, type Emulator } from '../../azure-emulator/index.js'
import { exampleEnv } from '../../azure-emulator/env.js'
import { serverHclFor } from '../../support/azure-msi-plugins.js'
import { PLUGIN_BIN_DIR, REPO_ROOT } from '../../support/paths.js'
import { recordingIo } from './io.js'

/**
 * `spire-azure selectors` through runCli against the emulator: the example server config with
 * -expandEnv, every way of naming the VM, text and JSON output, usage errors (exit 2), an unknown
 * VM and a refusal (exit 1); and once through the built dist/bin/spire-azure.
 */
const BOTH = 'examples/both/emulator-server.conf'
let emu: Emulator
let env: Record<string, string>
let dir = ''

before(async () => {
  emu = await startEmulator()
  dir = mkdtempSync(join(tmpdir(), 'cli-selectors-'))
  env = exampleEnv(emu, { runDir: dir })
})
after(async () => {
  assert.deepEqual(emu?.errors, [], 'the emulator answered no request with an unexpected error')
  await emu?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

async function cli(...argv: string[]) {
  const io = recordingIo({ cwd: REPO_ROOT, env })
  const code = await runCli(['selectors', ...argv], io)
  return { code, out: io.out, err: io.err }
}

const withConfig = (...argv: string[]) => cli('--config', BOTH, '--expand-env', ...argv)
const sub = () => emu.world.tenant('contoso').subscriptions[0]!.subscriptionId
const tid = () => emu.world.tenant('contoso').tenantId

interface JsonAttestor {
  plugin: string
  name: string
  agentId: string
  selectors: string[]
  notes: string[]
  entries: {
    node: { spiffeId: string; selectors: string[] }
    workload: { parentId: string; spiffeId: string; selectors: string[] }
    commands: string[]
  }
  error?: { message: string; status?: string; reason?: string }
}
interface JsonResult {
  vm: { resourceId: string; subscriptionId: string; foundBy: string }
  attestors: JsonAttestor[]
}

describe('spire-azure selectors: output', () => {
  test('a standalone VM, both attestors of the example config: selectors, agent IDs, entries', async () => {
    const vm = emu.world.vm('frontend/blog')
    const { code, out, err } = await withConfig('--resource-id', vm.id)
    assert.equal(code, 0, err)
    assert.equal(err, '')
    const msiId = `spiffe://example.org/spire/agent/azure_msi/${tid()}/${vm.identity.system!.principalId}`
    const imdsId = `spiffe://example.org/spire/agent/azure_imds/${tid()}/${sub()}/${vm.vmId}`
    assert.ok(out.startsWith(`VM ${vm.id}\n`), out)
    assert.match(out, new RegExp(`^  agent ID   ${msiId}$`, 'm'))
    assert.match(out, new RegExp(`^  agent ID   ${imdsId}$`, 'm'))
    for (const s of [
      'azure_msi:vm-name:frontend:blog',
      'azure_msi:vm-tag:environment:production',
      'azure_imds:vm-name:blog',
      'azure_imds:virtual-network-subnet:vnet:default',
    ])
      assert.match(out, new RegExp(`^ {13}${s}$|^  selectors  ${s}$`, 'm'), `${s} in\n${out}`)
    const lines = out.split('\n').map((l) => l.trim())
    assert.ok(
      lines.includes(
        `spire-server entry create -node -spiffeID spiffe://example.org/node/azure_msi/frontend/blog -selector azure_msi:subscription-id:${sub()} -selector azure_msi:vm-name:frontend:blog`,
      ),
      out,
    )
    assert.ok(
      lines.includes(
        'spire-server entry create -parentID spiffe://example.org/node/azure_msi/frontend/blog -spiffeID spiffe://example.org/workload -selector unix:uid:1000',
      ),
      out,
    )
    assert.ok(
      lines.includes(
        `spire-server entry create -node -spiffeID spiffe://example.org/node/azure_imds/frontend/blog -selector azure_imds:subscription-id:${sub()} -selector azure_imds:resource-group:frontend -selector azure_imds:vm-name:blog`,
      ),
      out,
    )
  })

  test('--json: one document; a Uniform instance found by --vm-id', async () => {
    const vm = emu.world.vm('frontend/web/1')
    const { code, out, err } = await withConfig(
      '--vm-id',
      vm.vmId,
      '--subscription',
      sub(),
      '--json',
    )
    assert.equal(code, 0, err)
    const doc = JSON.parse(out) as JsonResult
    assert.equal(doc.vm.foundBy, 'vm-id')
    assert.equal(doc.vm.resourceId.toLowerCase(), vm.id.toLowerCase())
    const [msi, imds] = doc.attestors
    assert.equal(msi?.plugin, 'azure_msi')
    assert.ok(msi.selectors.every((s) => s.startsWith('azure_msi:')))
    assert.ok(msi.selectors.includes('azure_msi:vmss-name:web'))
    assert.deepEqual(msi.entries.node.selectors, [
      `azure_msi:subscription-id:${sub()}`,
      'azure_msi:resource-group:frontend',
      'azure_msi:vmss-name:web',
    ])
    assert.equal(msi.entries.node.spiffeId, 'spiffe://example.org/node/azure_msi/frontend/web')
    assert.equal(msi.entries.workload.parentId, msi.entries.node.spiffeId)
    assert.deepEqual(msi.entries.workload.selectors, ['unix:uid:1000'])
    assert.match(msi.notes.join('\n'), /Uniform/)
    assert.equal(imds?.plugin, 'azure_imds')
    assert.ok(imds.selectors.includes('azure_imds:vm-name:web_1'))
    assert.equal(
      imds.agentId,
      `spiffe://example.org/spire/agent/azure_imds/${tid()}/${sub()}/${vm.vmId}`,
    )
    assert.deepEqual(imds.entries.node.selectors, [
      `azure_imds:subscription-id:${sub()}`,
      'azure_imds:resource-group:frontend',
      'azure_imds:vm-name:web_1',
    ])
  })

  test('--principal finds the VM of a system-assigned identity; --plugin narrows the config', async () => {
    const vm = emu.world.vm('frontend/flex/2')
    const { code, out, err } = await withConfig(
      '--principal',
      vm.identity.system!.principalId,
      '--plugin',
      'azure_msi',
      '--json',
    )
    assert.equal(code, 0, err)
    const doc = JSON.parse(out) as JsonResult
    assert.equal(doc.vm.foundBy, 'principal')
    assert.equal(doc.vm.resourceId.toLowerCase(), vm.id.toLowerCase())
    assert.deepEqual(
      doc.attestors.map((a) => a.plugin),
      ['azure_msi'],
    )
  })

  test('--plugin-data @file with --identity: a user-assigned identity by client ID', async () => {
    const file = join(dir, 'msi.hcl')
    writeFileSync(file, serverHclFor(emu, [{ tenant: 'contoso' }]))
    const vm = emu.world.vm('frontend/worker')
    const batch = vm.identity.userAssigned.find((u) => u.name === 'batch-identity')!
    const { code, out, err } = await cli(
      '--plugin-data',
      `@${file}`,
      '--plugin',
      'azure_msi',
      '--trust-domain',
      'td.example',
      '--resource-id',
      vm.id,
      '--identity',
      batch.clientId,
      '--json',
    )
    assert.equal(code, 0, err)
    const [msi] = (JSON.parse(out) as JsonResult).attestors
    assert.equal(
      msi?.agentId,
      `spiffe://td.example/spire/agent/azure_msi/${tid()}/${batch.principalId}`,
    )
    assert.ok(msi.selectors.includes(`azure_msi:principal-id:${batch.principalId}`))
  })

  test('--principal with only azure_imds configured: the lookup runs with its tenant credential', async () => {
    const vm = emu.world.vm('frontend/blog')
    const { code, out, err } = await withConfig(
      '--plugin',
      'azure_imds',
      '--principal',
      vm.identity.system!.principalId,
      '--subscription',
      sub(),
      '--json',
    )
    assert.equal(code, 0, err)
    const doc = JSON.parse(out) as JsonResult
    assert.equal(doc.vm.resourceId.toLowerCase(), vm.id.toLowerCase())
    assert.deepEqual(
      doc.attestors.map((a) => a.plugin),
      ['azure_imds'],
    )
  })

  test('two tenants could cover the subscription: exit 2 asking for --tenant, which picks one', async () => {
    const data = serverHclFor(emu, [
      { tenant: 'contoso' },
      { tenant: 'contoso-cn', subscription: sub(), extra: 'cloud_environment = "AzureChinaCloud"' },
    ])
    const argv = ['--plugin-data', data, '--plugin', 'azure_msi', '--trust-domain', 'example.org']
    const id = emu.world.vm('frontend/blog').id
    const ambiguous = await cli(...argv, '--resource-id', id)
    assert.equal(ambiguous.code, 2)
    assert.match(
      ambiguous.err,
      /^spire-azure: error: several azure_msi tenants could cover subscription /,
    )
    assert.match(ambiguous.err, /\nhint: pick one with --tenant\n$/)
    const picked = await cli(...argv, '--resource-id', id, '--tenant', tid().toUpperCase())
    assert.equal(picked.code, 0, picked.err)
    const unknown = await cli(...argv, '--resource-id', id, '--tenant', 'nope')
    assert.equal(unknown.code, 2)
    assert.match(unknown.err, /azure_msi has no tenant "nope"/)
  })

  test('progress lines appear only for a step still running when its timer fires', async () => {
    const io = recordingIo({ cwd: REPO_ROOT, env })
    const vm = emu.world.vm('frontend/api')
    const running = runCli(
      [
        'selectors',
        '--config',
        BOTH,
        '--expand-env',
        '--resource-id',
        vm.id,
        '--plugin',
        'azure_imds',
      ],
      io,
    )
    // the first step has started its timer by the time the config is loaded; fire it at once
    for (let i = 0; i < 200 && io.pending.length === 0; i++)
      await new Promise((r) => setImmediate(r))
    io.fireTimers()
    assert.equal(await running, 0, io.err)
    assert.match(
      io.err,
      /^azure_imds: resolving the VM through Azure Resource Manager…\nazure_imds: resolving the VM through Azure Resource Manager: done\n$/,
    )
  })
})

describe('spire-azure selectors: errors', () => {
  const usageCases: [string, string[], RegExp][] = [
    ['no VM', ['--config', BOTH], /name the VM/],
    [
      'no config',
      [
        '--resource-id',
        '/subscriptions/x/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v',
      ],
      /give the server config/,
    ],
    [
      'both configs',
      [
        '--config',
        BOTH,
        '--plugin-data',
        'x',
        '--vm-id',
        '00000000-0000-0000-0000-000000000000',
        '--subscription',
        '00000000-0000-0000-0000-000000000000',
      ],
      /give the server config/,
    ],
    [
      '--vm-id without --subscription',
      ['--config', BOTH, '--vm-id', '00000000-0000-0000-0000-000000000000'],
      /--vm-id needs --subscription/,
    ],
    [
      'a vmId that is no GUID',
      [
        '--config',
        BOTH,
        '--vm-id',
        'blog',
        '--subscription',
        '00000000-0000-0000-0000-000000000000',
      ],
      /--vm-id "blog" is not a GUID/,
    ],
    [
      'not a VM resource ID',
      ['--config', BOTH, '--resource-id', '/subscriptions/s/resourceGroups/g'],
      /is not the ID of a virtual machine/,
    ],
    [
      'an unknown plugin',
      [
        '--plugin-data',
        '{}',
        '--plugin',
        'aws_iid',
        '--trust-domain',
        'td',
        '--principal',
        '00000000-0000-0000-0000-000000000000',
      ],
      /--plugin must be one of azure_msi, azure_imds/,
    ],
    [
      'plugin data without trust domain',
      [
        '--plugin-data',
        '{}',
        '--plugin',
        'azure_msi',
        '--principal',
        '00000000-0000-0000-0000-000000000000',
      ],
      /--plugin-data needs --trust-domain/,
    ],
    ['an unknown option', ['--config', BOTH, '--vm', 'x'], /Unknown option '--vm'/],
  ]
  for (const [name, argv, message] of usageCases) {
    test(`usage error, exit 2: ${name}`, async () => {
      const { code, out, err } = await cli(...argv)
      assert.equal(code, 2, err)
      assert.equal(out, '')
      const [line, hint] = err.split('\n')
      assert.match(line ?? '', /^spire-azure: error: /)
      assert.match(line ?? '', message)
      assert.match(hint ?? '', /^hint: /)
    })
  }

  test('an unknown VM: exit 1, one clear line and a hint, nothing on stdout', async () => {
    const id = emu.world.vm('frontend/blog').id.replace(/blog$/, 'no-such-vm')
    const { code, out, err } = await withConfig('--resource-id', id)
    assert.equal(code, 1)
    assert.equal(out, '')
    assert.equal(err.split('\n')[0], `spire-azure: error: virtual machine ${id} not found`)
    assert.match(err.split('\n')[1] ?? '', /^hint: check the resource ID/)
    const byVmId = await withConfig(
      '--vm-id',
      '12345678-1234-1234-1234-123456789012',
      '--subscription',
      sub(),
    )
    assert.equal(byVmId.code, 1)
    assert.match(
      byVmId.err,
      /^spire-azure: error: no virtual machine has vmId 12345678-1234-1234-1234-123456789012 in subscription /,
    )
    assert.match(byVmId.err, /\nhint: check --vm-id and --subscription/)
  })

  test('a config that refuses the VM: the refusal printed, exit 1', async () => {
    const other = '11111111-2222-3333-4444-555555555555'
    const { code, out, err } = await cli(
      '--plugin-data',
      serverHclFor(emu, [{ tenant: 'contoso', subscription: other }]),
      '--plugin',
      'azure_msi',
      '--trust-domain',
      'example.org',
      '--resource-id',
      emu.world.vm('frontend/blog').id,
    )
    assert.equal(code, 1)
    assert.match(
      out,
      /^azure_msi: not attestable \(PermissionDenied, subscription_not_authorized\)$/m,
    )
    assert.match(
      err,
      /^spire-azure: error: azure_msi would not attest this VM: subscription "[0-9a-f-]+" is not authorized\nhint: /,
    )
  })

  test('invalid plugin data: exit 1 with the builder message', async () => {
    const { code, err } = await cli(
      '--plugin-data',
      'tenants = {}',
      '--plugin',
      'azure_imds',
      '--trust-domain',
      'example.org',
      '--resource-id',
      emu.world.vm('frontend/blog').id,
    )
    assert.equal(code, 1)
    assert.match(
      err,
      /^spire-azure: error: --plugin-data: invalid plugin_data: configuration must have at least one tenant\nhint: 'spire-azure validate'/,
    )
  })
})

describe('the built dist/bin/spire-azure', () => {
  test('prints the same JSON document as runCli', async () => {
    const vm = emu.world.vm('frontend/flex/0')
    const argv = ['selectors', '--config', BOTH, '--expand-env', '--resource-id', vm.id, '--json']
    const res = await run(join(PLUGIN_BIN_DIR, 'spire-azure'), argv)
    assert.equal(res.status, 0, res.stderr)
    const inProcess = await cli(...argv.slice(1))
    const strip = (text: string) => JSON.parse(text) as JsonResult
    assert.deepEqual(strip(res.stdout), strip(inProcess.out))
    assert.ok(strip(res.stdout).attestors.every((a) => a.error === undefined))
  })
})

/** The executable with the example env, asynchronously (the emulator answers from this process). */
function run(
  command: string,
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', (err) => {
      clearTimeout(timer)
      resolve({ status: null, stdout, stderr: `${stderr}${err.message}` })
    })
    child.on('exit', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}
