/**
 * What `spire-azure doctor` asks IMDS for, through the agent plugins' own code: a token through
 * the azure_msi agent, an attested document through the azure_imds agent (the very bytes each
 * agent sends, parsed with the servers' payload parsers), plus the instance metadata and the
 * identities' tenant. Each request and each fetch's retries are bounded by doctor's timeout.
 */
import { isRecord } from '../azure/arm.js'
import type { HttpFetch } from '../azure/http.js'
import {
  fetchInstanceCompute,
  getImdsJson,
  ImdsError,
  type ImdsAgentDeps,
  type InstanceCompute,
  type MsiIdentitySelector,
} from '../azure/imds.js'
import { isImdsUnreachable } from '../azure/imds-document.js'
import { parseImdsPayload, type ImdsAttestationPayload } from '../azure/imds-payload.js'
import { parseMsiPayload } from '../azure/payloads.js'
import { NOOP_LOGGER, Report } from '../plugin/index.js'
import { createAttestor as createMsiAgent } from '../../agent-plugin/azure-msi/attestor.js'
import { buildFromRaw as buildMsiAgentConfig } from '../../agent-plugin/azure-msi/config.js'
import { createAttestor as createImdsAgent } from '../../agent-plugin/azure-imds/attestor.js'
import { buildFromRaw as buildImdsAgentConfig } from '../../agent-plugin/azure-imds/config.js'
import { CliError } from './command.js'

/** An api-version of IMDS's identity endpoints that every VM answers. */
const IDENTITY_INFO_API_VERSION = '2018-02-01'

export interface DoctorImds {
  /** `/metadata/instance`, one request (no retries: step 1 says at once whether IMDS answers). */
  instance(): Promise<InstanceCompute>
  /** A token for `audience`, as the azure_msi agent configured with that identity fetches it. */
  token(identity: MsiIdentitySelector, audience: string): Promise<string>
  /** The azure_imds agent's answer to the challenge `nonce`, as the server decodes it. */
  document(nonce: string, tenantDomain: string): Promise<ImdsAttestationPayload>
  /** The tenant IMDS names for the VM's identities (`/metadata/identity/info`); undefined if none. */
  identityTenant(): Promise<string | undefined>
}

export interface DoctorImdsOptions {
  endpoint: string
  timeoutMs: number
  http: HttpFetch
  /** Elapsed-time clock and timer for the agents' retry budgets. */
  clock(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export function createDoctorImds(o: DoctorImdsOptions): DoctorImds {
  const agentDeps: ImdsAgentDeps = { http: o.http, now: o.clock, sleep: o.sleep, log: NOOP_LOGGER }
  // the agents' own settings: where IMDS is, and how long a request and its retries may take
  const common = {
    imds_endpoint: o.endpoint,
    request_timeout: `${o.timeoutMs}ms`,
    retry_timeout: `${o.timeoutMs}ms`,
  }
  const io = { signal: new AbortController().signal }
  return {
    instance: () =>
      fetchInstanceCompute({ endpoint: o.endpoint, http: o.http, timeoutMs: o.timeoutMs }),
    async token(identity, audience) {
      const config = agentConfig((report) =>
        buildMsiAgentConfig(
          {
            ...common,
            resource_id: audience,
            ...(identity.kind === 'default' ? {} : { [identity.kind]: identity.value }),
          },
          report,
        ),
      )
      return parseMsiPayload(await createMsiAgent(agentDeps).payload(config, io)).token
    },
    async document(nonce, tenantDomain) {
      const config = agentConfig((report) =>
        buildImdsAgentConfig({ ...common, tenant_domain: tenantDomain }, report),
      )
      const attestor = createImdsAgent(agentDeps)
      return parseImdsPayload(await attestor.respond!(Buffer.from(nonce, 'latin1'), config, io))
    },
    async identityTenant() {
      try {
        const { body } = await getImdsJson({
          http: o.http,
          url: `${o.endpoint}/metadata/identity/info?api-version=${IDENTITY_INFO_API_VERSION}`,
          timeoutMs: o.timeoutMs,
          now: o.clock,
        })
        const tid = isRecord(body) ? body['tenantId'] : undefined
        return typeof tid === 'string' && tid !== '' ? tid : undefined
      } catch {
        return undefined
      }
    },
  }
}

/** An agent config doctor built: a problem means an option slipped past parseDoctorOptions. */
function agentConfig<C>(build: (report: Report) => C | undefined): C {
  const report = new Report()
  const config = build(report)
  if (config === undefined) throw new CliError(report.errors.join('; '))
  return config
}

/** Why IMDS did not answer, with a hint when it cannot be reached at all. */
export function imdsProblem(err: unknown, endpoint: string): string {
  const message = err instanceof Error ? err.message : String(err)
  return isImdsUnreachable(err)
    ? `IMDS at ${endpoint} is unreachable (${message}): not an Azure VM, or a route or firewall blocks it`
    : message
}

/** IMDS's HTTP status behind an agent's failure, if it answered at all. */
export function imdsStatus(err: unknown): number | undefined {
  const cause = err instanceof Error ? err.cause : undefined
  if (cause instanceof ImdsError) return cause.status
  return err instanceof ImdsError ? err.status : undefined
}
