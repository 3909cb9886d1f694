// The emulator as environment variables, for the example configs in examples/*/emulator-*.conf,
// which SPIRE reads with `-expandEnv` (`${VAR}` is replaced from the environment). One place builds
// them: the CLI's `--write-env` and the tests that run those examples.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from '../support/paths.js'
import type { Emulator } from './index.js'

/** The VMs the examples' agents run on: one per attestor, as in `npm run demo`. */
export const EXAMPLE_VMS = { azure_msi: 'frontend/blog', azure_imds: 'frontend/worker' } as const

export interface ExampleEnvOptions {
  /** Private folder for SPIRE's data, sockets and the bootstrap bundle (default <repo>/.tmp/run). */
  runDir?: string
  /** Folder of the plugin executables (default <repo>/dist/bin). */
  binDir?: string
  /** spire-server's port (default 8081). */
  serverPort?: number
  /** The oidc-discovery-provider's port on 127.0.0.1 (default 8443). */
  oidcPort?: number
}

export function exampleEnv(emu: Emulator, o: ExampleEnvOptions = {}): Record<string, string> {
  const tenant = emu.world.tenants[0]!
  const app = tenant.apps[0]
  const e = emu.endpoints
  const runDir = o.runDir ?? join(REPO_ROOT, '.tmp', 'run')
  const oidcAddr = `127.0.0.1:${o.oidcPort ?? 8443}`
  const env: Record<string, string> = {
    SPIRE_AZURE_BIN: o.binDir ?? join(REPO_ROOT, 'dist', 'bin'),
    SPIRE_AZURE_RUN: runDir,
    SPIRE_SERVER_PORT: String(o.serverPort ?? 8081),
    // federation (examples/federation): the discovery provider's URL is the JWT-SVIDs' issuer
    SPIFFE_JWT_ISSUER: `https://${oidcAddr}`,
    OIDC_ADDR: oidcAddr,
    OIDC_CERT_FILE: join(runDir, 'oidc', 'tls.crt'),
    OIDC_KEY_FILE: join(runDir, 'oidc', 'tls.key'),
    AZURE_EMULATOR_ENTRA: e.entra,
    AZURE_EMULATOR_ARM: e.arm,
    AZURE_EMULATOR_IMDS: e.imds,
    AZURE_EMULATOR_ISSUERS: e.issuers,
    AZURE_EMULATOR_CA_FILE: e.caFile,
    AZURE_TENANT_ID: tenant.tenantId,
    AZURE_TENANT_DOMAIN: tenant.domains[0] ?? tenant.tenantId,
    AZURE_SUBSCRIPTION_ID: tenant.subscriptions[0]?.subscriptionId ?? '',
    AZURE_APP_ID: app?.clientId ?? '',
    AZURE_APP_SECRET: app?.secret ?? '',
  }
  for (const [attestor, vm] of Object.entries(EXAMPLE_VMS)) {
    const found = emu.world.findVm(vm)
    if (found !== undefined) env[`AZURE_EMULATOR_IMDS_${attestor.toUpperCase()}`] = e.imdsFor(vm)
  }
  return env
}

/**
 * Creates the private run folder and the files the env names: the oidc-discovery-provider's serving
 * certificate (the emulator's TLS certificate, valid for 127.0.0.1 and trusted by the emulated Entra).
 */
export function writeExampleFiles(emu: Emulator, env: Record<string, string>): void {
  mkdirSync(join(env['SPIRE_AZURE_RUN']!, 'oidc'), { recursive: true, mode: 0o700 })
  writeFileSync(env['OIDC_CERT_FILE']!, emu.pki.tls.chainPem)
  writeFileSync(env['OIDC_KEY_FILE']!, emu.pki.tls.keyPem, { mode: 0o600 })
}

/** `KEY='value'` lines a POSIX shell can source (`set -a; . FILE; set +a`). */
export function formatEnvFile(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `${k}='${v.replace(/'/g, `'\\''`)}'`)
    .join('\n')
    .concat('\n')
}
