// Azure in a box for the side-by-side benches (bench/side-by-side.ts, bench/fleet-boot.ts): upstream
// SPIRE's Azure attestors call Azure's real host names (login.microsoftonline.com,
// management.azure.com, www.microsoft.com, 169.254.169.254) with no setting to point them elsewhere,
// so those benches run themselves again inside a private network + mount namespace (as
// scripts/azure-in-a-box.sh does) where those names are this process's emulator in `box` mode and its
// roots are the system trust store (SSL_CERT_FILE) for Go. Nothing leaves the namespace: it has only
// a loopback interface. Both sides of a comparison run in the same box, so they see the same network.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AZURE_HOST_NAMES } from '../test/azure-emulator/clouds.js'

/** Set in the re-run inside the namespace. */
export const IN_BOX_ENV = 'SPIRE_AZURE_BENCH_IN_BOX'

export const inBox = (env: NodeJS.ProcessEnv = process.env): boolean => env[IN_BOX_ENV] === '1'

/** Why the box cannot be made here, or undefined when it can. */
export function boxUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (unshare --net --mount)'
  const r = spawnSync('unshare', ['--net', '--mount', 'true'])
  if (r.status !== 0) return `unshare --net --mount refused: ${r.stderr?.toString().trim()}`
  return undefined
}

/** Runs this script again inside a fresh namespace with the same arguments; returns its exit code. */
export function rerunInBox(script: string, argv: readonly string[]): number {
  const r = spawnSync(
    'unshare',
    ['--net', '--mount', '--propagation', 'private', process.execPath, script, ...argv],
    { stdio: 'inherit', env: { ...process.env, [IN_BOX_ENV]: '1' } },
  )
  return r.status ?? 1
}

/** The /etc/hosts text that sends every Azure host name to loopback. */
export function hostsFile(names: readonly string[] = AZURE_HOST_NAMES): string {
  return [
    '127.0.0.1 localhost',
    '::1 localhost ip6-localhost',
    ...names.map((h) => `127.0.0.1 ${h}`),
  ]
    .join('\n')
    .concat('\n')
}

/**
 * Inside the namespace, before the emulator starts: loopback up with IMDS's address, a private
 * /etc/hosts and a resolver that goes nowhere (bind mounts seen in this namespace only).
 */
export function prepareBox(): void {
  if (!inBox()) throw new Error('prepareBox: not inside the bench box')
  const sh = (cmd: string, args: string[]): void => {
    const r = spawnSync(cmd, args)
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr?.toString().trim()}`)
  }
  sh('ip', ['link', 'set', 'lo', 'up'])
  sh('ip', ['addr', 'add', '169.254.169.254/32', 'dev', 'lo'])
  const dir = mkdtempSync(join(tmpdir(), 'bench-box-'))
  writeFileSync(join(dir, 'hosts'), hostsFile())
  writeFileSync(join(dir, 'resolv.conf'), 'options timeout:1 attempts:1\n')
  sh('mount', ['--bind', join(dir, 'hosts'), '/etc/hosts'])
  sh('mount', ['--bind', join(dir, 'resolv.conf'), '/etc/resolv.conf'])
  for (const k of [
    'http_proxy',
    'https_proxy',
    'HTTP_PROXY',
    'HTTPS_PROXY',
    'ALL_PROXY',
    'all_proxy',
  ])
    delete process.env[k]
}

/**
 * Points the Go processes started from now on (spire-server, upstream's plugins) at an emulator's
 * roots: system trust (SSL_CERT_FILE) and, for the TEST-ONLY azure_imds builds, its document roots.
 */
export function trustEmulator(caFile: string): void {
  process.env.SSL_CERT_FILE = caFile
  process.env.SPIRE_TEST_AZURE_IMDS_EXTRA_ROOTS = caFile
}
