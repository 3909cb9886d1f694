import { NOOP_METRICS, Report } from '../../shared/plugin/index.js'
import { buildConfig, type MsiServerConfig } from '../../server-plugin/azure-msi/config.js'
import type { Deps } from '../../server-plugin/azure-msi/deps.js'
import {
  FakeAgentStore,
  FakeArm,
  FakeKeySource,
  NOW,
  SUBSCRIPTION_ID,
  TENANT_ID,
  TRUST_DOMAIN,
} from './azure-fakes.js'
import { QUIET_LOGGER } from './loggers.js'

export * from './azure-fakes.js'
export { QUIET_LOGGER, recordingLogger } from './loggers.js'

/** Builds a server config from HCL, failing the test on any error note. */
export function serverConfig(hcl: string, trustDomain = TRUST_DOMAIN): MsiServerConfig {
  const report = new Report()
  const config = buildConfig(hcl, { trustDomain }, report)
  if (config === undefined) throw new Error(`config rejected: ${report.errors.join('; ')}`)
  return config
}

export const BASIC_HCL = `tenants = {
  "${TENANT_ID}" = {
    subscription_id = "${SUBSCRIPTION_ID}"
    app_id = "app"
    app_secret = "secret"
  }
}`

export interface TestDeps extends Deps {
  keys: FakeKeySource
  arm: FakeArm
  store: FakeAgentStore
}

export function testDeps(overrides: Partial<Deps> = {}): TestDeps {
  const keys = new FakeKeySource()
  const arm = new FakeArm()
  const store = new FakeAgentStore()
  return {
    now: () => NOW.getTime(),
    keysFor: () => keys,
    armFor: () => arm,
    serverSubscription: async () => SUBSCRIPTION_ID,
    agentStore: store,
    log: QUIET_LOGGER,
    metrics: NOOP_METRICS,
    keys,
    arm,
    store,
    ...overrides,
  }
}
