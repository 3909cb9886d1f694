import { join } from 'node:path'
import { PluginProcess, type LaunchOptions } from '../../shared/host/index.js'
import { TEST_BIN_DIR } from './paths.js'

/** Bundled executables (dist/test-bin) of the test-only challenge–response attestor pair. */
export const CR_SERVER_MAIN = join(TEST_BIN_DIR, 'cr-test-server')
export const CR_AGENT_MAIN = join(TEST_BIN_DIR, 'cr-test-agent')

export const CR_SECRET = 'correct horse battery staple'

/**
 * The exit grace for tests that ask whether a plugin exits by itself after Shutdown (no SIGKILL).
 * go-plugin's own 2 s (EXIT_GRACE_MS, kept by the launcher and by real SPIRE in the e2e tests) was
 * overrun once in CI while both cores ran other test files; the question is "does it exit", not "how fast".
 */
export const TEST_EXIT_GRACE_MS = 15_000

type Extra = Partial<Omit<LaunchOptions, 'command' | 'side'>> & {
  hcl?: string
  trustDomain?: string
}

export function loadCrServer(extra: Extra = {}): Promise<PluginProcess> {
  return PluginProcess.load({
    command: CR_SERVER_MAIN,
    name: 'cr_test',
    side: 'server',
    hcl: `secret = "${CR_SECRET}"`,
    ...extra,
  })
}

export function loadCrAgent(identity: string, extra: Extra = {}): Promise<PluginProcess> {
  return PluginProcess.load({
    command: CR_AGENT_MAIN,
    name: 'cr_test',
    side: 'agent',
    hcl: `secret = "${CR_SECRET}"\nidentity = "${identity}"\nselectors = ["rack:r1", "zone:z2"]`,
    ...extra,
  })
}

export function launchCr(side: 'server' | 'agent', extra: Extra = {}): Promise<PluginProcess> {
  return PluginProcess.launch({
    command: side === 'server' ? CR_SERVER_MAIN : CR_AGENT_MAIN,
    name: 'cr_test',
    side,
    ...extra,
  })
}
