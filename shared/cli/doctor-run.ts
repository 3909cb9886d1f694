/**
 * `spire-azure doctor`'s steps, run on a VM (or against an IMDS endpoint): IMDS, the managed
 * identities, an attested document, both verified with the server plugins' own code, and what the
 * server would see. IMDS is asked through the agent plugins' code (doctor-imds.ts), so doctor gets
 * exactly what the agents send; the checks are the server plugins' (doctor-verify.ts). Every
 * request is bounded by `--timeout`; secrets are redacted unless asked for. Loaded only when the
 * command runs.
 */
import { readFile } from 'node:fs/promises'
import { CLOUDS, findCloud, type AzureCloud } from '../azure/clouds.js'
import { createNodeHttp, type HttpFetch } from '../azure/http.js'
import type { InstanceCompute, MsiIdentitySelector } from '../azure/imds.js'
import type { ImdsAttestationPayload } from '../azure/imds-payload.js'
import { parseArmIdOf } from '../azure/resource-id.js'
import { sleep } from '../azure/retry.js'
import { Report, type BuildConfig } from '../plugin/index.js'
import { buildConfig as buildMsiServerConfig } from '../../server-plugin/azure-msi/config.js'
import { parseMsiToken } from '../../server-plugin/azure-msi/verify.js'
import {
  buildConfig as buildImdsServerConfig,
  type ImdsServerConfig,
} from '../../server-plugin/azure-imds/config.js'
import { generateNonce } from '../../server-plugin/azure-imds/nonce.js'
import { CliError, redact, withProgress, type CliIo } from './command.js'
import { identitiesLine, vmIdentities } from './doctor-arm.js'
import { createDoctorImds, imdsProblem, imdsStatus, type DoctorImds } from './doctor-imds.js'
import {
  imdsAgentPluginData,
  imdsServerPluginData,
  msiAgentPluginData,
  msiServerPluginData,
  type EndpointSettings,
} from './doctor-plugin-data.js'
import { checkServerConfig } from './doctor-server-config.js'
import {
  authorizeImdsAgent,
  createServerSides,
  refusal,
  verifyImdsDocument,
  verifyMsiToken,
  type ImdsDocumentVerdict,
  type MsiVerdict,
  type ServerSides,
} from './doctor-verify.js'

export interface DoctorOptions {
  imdsEndpoint: string
  /** The token audience; undefined: the cloud's Resource Manager. */
  resource: string | undefined
  /** User-assigned identities to check besides the default one. */
  identities: readonly Exclude<MsiIdentitySelector, { kind: 'default' }>[]
  listIdentities: boolean
  /** undefined: the cloud IMDS names (compute.azEnvironment). */
  cloud: AzureCloud | undefined
  /** The azure_imds agent's tenant_domain; undefined: the tenant ID. */
  tenantDomain: string | undefined
  /** For the agent IDs of step 5; undefined: example.org. */
  trustDomain: string | undefined
  serverConfig: string | undefined
  /** SPIRE's `-expandEnv` for the server config. */
  expandEnv: boolean
  endpoints: EndpointSettings
  /** Bound on every request, and on each fetch's retries. */
  timeoutMs: number
  showSecrets: boolean
}

/** Doctor's seams: the transport, the process clock for retry budgets, and the nonce source. */
export interface DoctorDeps {
  http: HttpFetch
  /** Elapsed-time clock for retry budgets (expiry checks read the CLI's wall clock, `io.now`). */
  clock(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  /** A fresh challenge, as the azure_imds server makes one. */
  nonce(): string
  /** Checks a SPIRE server.conf against what doctor found (doctor-server-config.ts). */
  checkServerConfig?(
    path: string,
    expandEnv: boolean,
    found: DoctorFindings,
  ): Promise<DoctorStepResult[]>
}

export type StepStatus = 'ok' | 'warn' | 'fail' | 'skip'

export interface DoctorStep {
  /** 1 IMDS, 2 identities, 3 document, 4 verification, 5 what the server sees. */
  step: number
  name: string
  status: StepStatus
  detail: string
}

export type DoctorStepResult = Omit<DoctorStep, 'step'>

/** What the azure_msi server sees for one identity's token (verified). */
export interface MsiView {
  identity: string
  tenantId: string
  principalId: string
  objectId: string | undefined
  clientId: string | undefined
  /** `xms_mirid`: the identity's resource. */
  identityResourceId: string | undefined
  /** `xms_az_rid`: the compute resource holding a user-assigned identity. */
  computeResourceId: string | undefined
  audience: readonly string[]
  expiresAt: string | undefined
  agentId: string
}

/** What the azure_imds server sees for the document (verified). */
export interface ImdsView {
  tenantId: string
  subscriptionId: string
  vmId: string
  expiresOn: string
  signer: string
  agentId: string
}

export interface DoctorReport {
  ok: boolean
  imdsEndpoint: string
  steps: DoctorStep[]
  server: { azure_msi: MsiView[]; azure_imds: ImdsView | undefined }
  /** Server and agent plugin_data (HCL) that accept this VM, for each attestor that can. */
  pluginData: {
    azure_msi?: { server: string; agents: Record<string, string> }
    azure_imds?: { server: string; agent: string }
  }
}

/** One identity that answered: its token (a secret) and its unverified claims. */
export interface IdentityAnswer {
  name: string
  identity: MsiIdentitySelector
  token: string
  untrustedClaims: Record<string, unknown>
}

/** Everything the steps learned, for the server-config check. */
export interface DoctorFindings {
  compute: InstanceCompute
  cloud: AzureCloud
  answers: readonly IdentityAnswer[]
  /** The document as the azure_imds server receives it, and the nonce it was asked for. */
  document: { payload: ImdsAttestationPayload; nonce: string } | undefined
  vmTenantId: string | undefined
  trustDomain: string
  sides: ServerSides
  now: Date
}

/** Production seams: Node's transport with the CLI's proxy environment, the system clock. */
export function defaultDoctorDeps(io: CliIo): DoctorDeps {
  return {
    http: createNodeHttp({ env: io.env }),
    clock: () => Date.now(),
    sleep,
    nonce: () => generateNonce(),
    checkServerConfig: (path, expandEnv, found) =>
      checkServerConfig(path, found, { expandEnv, env: io.env, cwd: io.cwd }),
  }
}

const DEFAULT_TRUST_DOMAIN = 'example.org'
/** Stands in for an unknown tenant where a config needs a key; never printed as advice. */
const UNKNOWN_TENANT = 'tenant-unknown.invalid'

/** One run's shared state: options, seams, the verification time and the steps so far. */
interface Run {
  o: DoctorOptions
  io: CliIo
  http: HttpFetch
  imds: DoctorImds
  /** The time tokens and documents are judged at (the CLI's wall clock). */
  now: Date
  add(step: number, name: string, status: StepStatus, detail: string): void
}

/** What step 1 learned, and what follows from it. */
interface VmFacts {
  compute: InstanceCompute
  cloud: AzureCloud
  /** The token audience doctor asks for. */
  resource: string
  trustDomain: string
}

/** Runs every step; `onStep` sees each as it ends (human output prints them as they come). */
export async function runDoctor(
  o: DoctorOptions,
  io: CliIo,
  deps: DoctorDeps,
  onStep: (step: DoctorStep) => void = () => {},
): Promise<DoctorReport> {
  const steps: DoctorStep[] = []
  const http = bounded(deps.http, o.timeoutMs)
  const run: Run = {
    o,
    io,
    http,
    imds: createDoctorImds({
      endpoint: o.imdsEndpoint,
      timeoutMs: o.timeoutMs,
      http,
      clock: deps.clock,
      sleep: deps.sleep,
    }),
    now: new Date(io.now()),
    add(step, name, status, detail) {
      const s = { step, name, status, detail }
      steps.push(s)
      onStep(s)
    },
  }
  const report: DoctorReport = {
    ok: false,
    imdsEndpoint: o.imdsEndpoint,
    steps,
    server: { azure_msi: [], azure_imds: undefined },
    pluginData: {},
  }
  const vm = await imdsStep(run)
  if (vm !== undefined) {
    const answers = await identitySteps(run, vm)
    if (o.listIdentities) await armIdentitiesStep(run, vm, answers)
    // the VM's tenant: from a token (verified in step 4), else what IMDS says
    const vmTenantId =
      answers.map((a) => str(a.untrustedClaims['tid'])).find((t) => t !== undefined) ??
      (await run.imds.identityTenant())
    const tenantDomain = o.tenantDomain ?? vmTenantId
    const document = await documentStep(run, deps.nonce(), tenantDomain)
    const sides = createServerSides(http)
    const msi = await verifyTokenSteps(run, vm, answers, sides)
    const imds = await verifyDocumentStep(run, vm, document, sides, tenantDomain, vmTenantId)
    msiViewSteps(run, vm, report, msi)
    await imdsViewStep(run, report, imds, sides)
    if (o.serverConfig !== undefined && deps.checkServerConfig !== undefined) {
      const found: DoctorFindings = {
        compute: vm.compute,
        cloud: vm.cloud,
        answers,
        document,
        vmTenantId,
        trustDomain: vm.trustDomain,
        sides,
        now: run.now,
      }
      for (const r of await deps.checkServerConfig(o.serverConfig, o.expandEnv, found)) {
        run.add(5, r.name, r.status, r.detail)
      }
    }
  }
  report.ok = steps.every((s) => s.status !== 'fail')
  return report
}

/** Step 1: IMDS answers with the instance metadata; when it cannot, every other step is skipped. */
async function imdsStep(run: Run): Promise<VmFacts | undefined> {
  const { o } = run
  let compute: InstanceCompute
  try {
    compute = await withProgress(run.io, `Asking IMDS at ${o.imdsEndpoint}`, () =>
      run.imds.instance(),
    )
  } catch (err) {
    run.add(1, 'IMDS reachable', 'fail', imdsProblem(err, o.imdsEndpoint))
    const skipped = ['managed identities', 'attested document', 'verification']
    skipped.forEach((name, i) => run.add(i + 2, name, 'skip', 'IMDS is not reachable'))
    run.add(5, 'what the server sees', 'skip', 'IMDS is not reachable')
    return undefined
  }
  const named = o.cloud ?? findCloud(compute.azEnvironment)
  const cloud = named ?? CLOUDS.AzurePublicCloud
  run.add(
    1,
    'IMDS reachable',
    named === undefined ? 'warn' : 'ok',
    `VM ${compute.name} (vmId ${compute.vmId || '(none)'}) in subscription ${compute.subscriptionId}, ` +
      `resource group ${compute.resourceGroupName}` +
      (compute.vmScaleSetName === '' ? '' : `, scale set ${compute.vmScaleSetName}`) +
      (named === undefined
        ? `; azEnvironment ${JSON.stringify(compute.azEnvironment)} is no known cloud: assuming ${cloud.name} (see --cloud)`
        : `, ${cloud.name}`),
  )
  return {
    compute,
    cloud,
    resource: o.resource ?? cloud.armResourceId,
    trustDomain: o.trustDomain ?? DEFAULT_TRUST_DOMAIN,
  }
}

/** Step 2: a token from the default identity (as the agent without a selector) and each one named. */
async function identitySteps(run: Run, vm: VmFacts): Promise<IdentityAnswer[]> {
  const answers: IdentityAnswer[] = []
  for (const identity of [{ kind: 'default' } as const, ...run.o.identities]) {
    const label = identityLabel(identity)
    try {
      const token = await withProgress(run.io, `Asking IMDS for a token (${label})`, () =>
        run.imds.token(identity, vm.resource),
      )
      const untrustedClaims = unverifiedClaims(token)
      const name = identity.kind === 'default' ? defaultIdentityName(untrustedClaims) : label
      answers.push({ name, identity, token, untrustedClaims })
      run.add(
        2,
        name,
        'ok',
        `token for ${vm.resource}: ${redact(token, run.o.showSecrets)}; ${claimsLine(untrustedClaims)}`,
      )
    } catch (err) {
      // no identity without a selector is no failure: azure_imds needs none
      const none = identity.kind === 'default' && imdsStatus(err) === 400
      run.add(
        2,
        label,
        none ? 'warn' : 'fail',
        `${message(err)}${
          none
            ? ' (IMDS picks no identity without a selector: name one with --client-id, --object-id or --msi-res-id; azure_imds needs none)'
            : ''
        }`,
      )
    }
  }
  return answers
}

/** Step 2, `--list-identities`: the VM's identities per ARM, read with an identity that answered. */
async function armIdentitiesStep(
  run: Run,
  vm: VmFacts,
  answers: readonly IdentityAnswer[],
): Promise<void> {
  const name = 'identities per ARM'
  const first = answers[0]
  if (first === undefined) {
    run.add(2, name, 'warn', 'no identity answered, so there is no token to read ARM with')
    return
  }
  const { o } = run
  const { cloud } = vm
  try {
    const token =
      vm.resource === cloud.armResourceId
        ? first.token
        : await run.imds.token(first.identity, cloud.armResourceId)
    const extraCa =
      o.endpoints.caFile === undefined ? undefined : [await readCa(o.endpoints.caFile)]
    const exp = unverifiedClaims(token)['exp']
    const identity = await withProgress(run.io, "Reading the VM's identities from ARM", () =>
      vmIdentities(vm.compute, {
        token,
        expiresAt: typeof exp === 'number' ? exp : undefined,
        cloud,
        armEndpoint: o.endpoints.resourceManager ?? cloud.armEndpoint,
        http: run.http,
        extraCa,
        now: run.io.now,
        timeoutMs: o.timeoutMs,
      }),
    )
    const checked = new Set(
      answers.flatMap((a) =>
        [str(a.untrustedClaims['sub']), str(a.untrustedClaims['oid'])].flatMap((x) =>
          x === undefined ? [] : [x.toLowerCase()],
        ),
      ),
    )
    run.add(2, name, 'ok', identitiesLine(identity, checked))
  } catch (err) {
    const status = (err as { status?: unknown }).status
    const hint =
      status === 401 || status === 403
        ? ` (${first.name} needs read access to the VM, e.g. the Reader role on it, to list identities)`
        : ''
    run.add(2, name, 'warn', `${message(err)}${hint}`)
  }
}

/** Step 3: the azure_imds agent's answer to a fresh challenge. */
async function documentStep(
  run: Run,
  nonce: string,
  tenantDomain: string | undefined,
): Promise<DoctorFindings['document']> {
  try {
    const payload = await withProgress(run.io, 'Asking IMDS for an attested document', () =>
      run.imds.document(nonce, tenantDomain ?? UNKNOWN_TENANT),
    )
    const d = payload.document
    run.add(
      3,
      'attested document',
      'ok',
      `for nonce ${nonce}: ${d.encoding}, signature ${redact(d.signature, run.o.showSecrets)}`,
    )
    return { payload, nonce }
  } catch (err) {
    run.add(3, 'attested document', 'fail', message(err))
    return undefined
  }
}

interface TokenResults {
  verdicts: { answer: IdentityAnswer; verdict: MsiVerdict }[]
  /** The azure_msi server plugin_data the first verified token was checked against. */
  serverBlock: string | undefined
}

/** Step 4: each token, checked by azure_msi's code against the smallest config for its tenant. */
async function verifyTokenSteps(
  run: Run,
  vm: VmFacts,
  answers: readonly IdentityAnswer[],
  sides: ServerSides,
): Promise<TokenResults> {
  const out: TokenResults = { verdicts: [], serverBlock: undefined }
  const principalIds = uniq(answers.flatMap((a) => str(a.untrustedClaims['sub']) ?? []))
  for (const answer of answers) {
    const step = `token of ${answer.name}`
    const tid = str(answer.untrustedClaims['tid'])
    if (tid === undefined) {
      run.add(4, step, 'fail', 'token missing tenant ID claim (tid)')
      continue
    }
    const hcl = msiServerPluginData({
      tenantId: tid,
      cloud: vm.cloud,
      resource: vm.resource,
      subscriptionId: vm.compute.subscriptionId,
      principalIds,
      endpoints: run.o.endpoints,
    })
    const config = serverConfig(buildMsiServerConfig, hcl, vm.trustDomain)
    try {
      const verdict = await withProgress(run.io, `Verifying the token of ${answer.name}`, () =>
        verifyMsiToken(config, answer.token, sides.msi, run.now),
      )
      out.verdicts.push({ answer, verdict })
      out.serverBlock ??= hcl
      const c = verdict.claims
      run.add(
        4,
        step,
        'ok',
        `signature (key ${verdict.kid} from ${verdict.discoveryUrl}), issuer ${c.issuer ?? '(none)'}, ` +
          `audience ${c.audience.join(' ')}, ${expiryText(c.expiry, run.now)}`,
      )
    } catch (err) {
      run.add(4, step, 'fail', refusal(err))
    }
  }
  return out
}

interface DocumentResults {
  document: { payload: ImdsAttestationPayload; verdict: ImdsDocumentVerdict } | undefined
  /** The azure_imds server plugin_data the document was checked against (with a known tenant). */
  serverBlock: string | undefined
  /** The tenant block's key, which the agent's tenant_domain must name. */
  key: string | undefined
  vmTenantId: string | undefined
  config: ImdsServerConfig
}

/** Step 4: the document, checked by azure_imds's code against the smallest config that trusts it. */
async function verifyDocumentStep(
  run: Run,
  vm: VmFacts,
  document: DoctorFindings['document'],
  sides: ServerSides,
  key: string | undefined,
  vmTenantId: string | undefined,
): Promise<DocumentResults> {
  const hcl = imdsServerPluginData({
    key: key ?? UNKNOWN_TENANT,
    tenantId: vmTenantId,
    cloud: vm.cloud,
    subscriptionId: vm.compute.subscriptionId,
    endpoints: run.o.endpoints,
  })
  const config = serverConfig(buildImdsServerConfig, hcl, vm.trustDomain)
  const out: DocumentResults = {
    document: undefined,
    serverBlock: key === undefined ? undefined : hcl,
    key,
    vmTenantId,
    config,
  }
  const name = 'attested document'
  if (document === undefined) {
    run.add(4, name, 'skip', 'no document (step 3)')
    return out
  }
  try {
    const v = await withProgress(run.io, 'Verifying the attested document', () =>
      verifyImdsDocument(config, document.payload, document.nonce, sides.imds, run.now),
    )
    out.document = { payload: document.payload, verdict: v }
    run.add(
      4,
      name,
      'ok',
      `signature by ${commonName(v.signer.subject)} (SAN ${v.signer.dnsNames.join(' ')}), ` +
        `chain ${v.chain.map((c) => commonName(c.subject)).join(' → ')}, nonce matches, ` +
        `vmId ${v.content.vmId}, expires ${v.content.expiresOn}`,
    )
  } catch (err) {
    run.add(4, name, 'fail', refusal(err))
  }
  return out
}

/** Step 5 for azure_msi: what the server sees of each verified token, and the plugin_data. */
function msiViewSteps(run: Run, vm: VmFacts, report: DoctorReport, msi: TokenResults): void {
  const agents: Record<string, string> = {}
  for (const { answer, verdict } of msi.verdicts) {
    const c = verdict.claims
    const view: MsiView = {
      identity: answer.name,
      tenantId: c.tenantId,
      principalId: c.principalId,
      objectId: c.objectId,
      clientId: c.clientId,
      identityResourceId: c.identityResourceId,
      computeResourceId: c.computeResourceId,
      audience: c.audience,
      expiresAt: c.expiry === undefined ? undefined : new Date(c.expiry * 1000).toISOString(),
      agentId: verdict.agentId,
    }
    report.server.azure_msi.push(view)
    agents[answer.name] = msiAgentPluginData({
      identity: answer.identity,
      resource: vm.resource,
      imdsEndpoint: run.o.imdsEndpoint,
    })
    run.add(5, `azure_msi, ${answer.name}`, 'ok', msiViewLine(view))
  }
  if (msi.serverBlock !== undefined) {
    report.pluginData.azure_msi = { server: msi.serverBlock, agents }
  } else {
    run.add(5, 'azure_msi', 'warn', 'no verified token: azure_msi cannot attest this VM as it is')
  }
}

/** Step 5 for azure_imds: the tenant and agent ID the server gives the verified document. */
async function imdsViewStep(
  run: Run,
  report: DoctorReport,
  imds: DocumentResults,
  sides: ServerSides,
): Promise<void> {
  const name = 'azure_imds'
  const doc = imds.document
  if (doc === undefined) {
    run.add(5, name, 'warn', 'no verified document: azure_imds cannot attest this VM as it is')
    return
  }
  if (imds.key === undefined || imds.serverBlock === undefined) {
    run.add(
      5,
      name,
      'warn',
      "the VM's tenant is unknown (no identity answered): give the agent's tenant_domain with --tenant-domain",
    )
    return
  }
  const key = imds.key
  try {
    const agent = await withProgress(run.io, 'Checking the azure_imds tenant', () =>
      authorizeImdsAgent(imds.config, doc.verdict, doc.payload, sides.imds, imds.vmTenantId),
    )
    const content = doc.verdict.content
    const view: ImdsView = {
      tenantId: agent.tenantId,
      subscriptionId: content.subscriptionId,
      vmId: content.vmId,
      expiresOn: content.expiresOn,
      signer: commonName(doc.verdict.signer.subject),
      agentId: agent.agentId,
    }
    report.server.azure_imds = view
    report.pluginData.azure_imds = {
      server: imds.serverBlock,
      agent: imdsAgentPluginData({ tenantDomain: key, imdsEndpoint: run.o.imdsEndpoint }),
    }
    run.add(
      5,
      name,
      'ok',
      `tenant ${view.tenantId}, subscription ${view.subscriptionId}, vmId ${view.vmId}; agent ID ${view.agentId}`,
    )
  } catch (err) {
    run.add(5, name, 'fail', refusal(err))
  }
}

/** `http` with every request bounded by `timeoutMs` (the fetchers' own bounds may be longer). */
function bounded(http: HttpFetch, timeoutMs: number): HttpFetch {
  return (req) => http({ ...req, timeoutMs: Math.min(req.timeoutMs, timeoutMs) })
}

/** A server plugin's config from doctor's own text: a problem here is a doctor bug or a bad option. */
function serverConfig<C>(build: BuildConfig<C>, hcl: string, trustDomain: string): C {
  const problems = new Report()
  const config = build(hcl, { trustDomain }, problems)
  if (config === undefined) {
    throw new CliError(
      `the server plugin refuses doctor's configuration: ${problems.errors.join('; ')}`,
      'check --authority-host, --resource-manager, --aia-issuers, --ca-file and --trust-domain',
    )
  }
  return config
}

async function readCa(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw new CliError(`unable to read --ca-file ${JSON.stringify(path)}: ${message(err)}`)
  }
}

function identityLabel(identity: MsiIdentitySelector): string {
  return identity.kind === 'default'
    ? 'default identity'
    : `user-assigned identity ${identity.kind} ${identity.value}`
}

/** IMDS's pick without a selector: the system-assigned identity, or the VM's only user-assigned one. */
function defaultIdentityName(claims: Record<string, unknown>): string {
  const mirid = str(claims['xms_mirid'])
  const uami = mirid === undefined ? undefined : parseArmIdOf(mirid, 'uami')
  return uami === undefined
    ? 'system-assigned identity'
    : `default identity (user-assigned ${uami.name})`
}

/** The claims of a token no one has verified yet: shown as IMDS's answer, trusted only after step 4. */
function unverifiedClaims(token: string): Record<string, unknown> {
  try {
    return parseMsiToken(token).untrustedClaims
  } catch {
    return {}
  }
}

function claimsLine(claims: Record<string, unknown>): string {
  const parts = [
    `tenant ${str(claims['tid']) ?? '?'}`,
    `principal ${str(claims['sub']) ?? '?'}`,
    `client ${str(claims['appid']) ?? str(claims['azp']) ?? '?'}`,
  ]
  const mirid = str(claims['xms_mirid'])
  if (mirid !== undefined) parts.push(`resource ${mirid}`)
  return parts.join(', ')
}

function msiViewLine(v: MsiView): string {
  const parts = [`tenant ${v.tenantId}`, `principal ${v.principalId}`]
  if (v.objectId !== undefined && v.objectId !== v.principalId) parts.push(`object ${v.objectId}`)
  if (v.clientId !== undefined) parts.push(`client ${v.clientId}`)
  if (v.identityResourceId !== undefined) parts.push(`xms_mirid ${v.identityResourceId}`)
  if (v.computeResourceId !== undefined) parts.push(`xms_az_rid ${v.computeResourceId}`)
  return `${parts.join(', ')}; agent ID ${v.agentId}`
}

function expiryText(expiry: number | undefined, now: Date): string {
  if (expiry === undefined) return 'no expiry'
  const left = Math.round((expiry * 1000 - now.getTime()) / 60_000)
  return `expires ${new Date(expiry * 1000).toISOString()} (in ${Math.floor(left / 60)}h ${left % 60}m)`
}

function commonName(subject: string): string {
  return /(?:^|[,\n/]\s*)CN=([^,\n/]+)/.exec(subject)?.[1]?.trim() ?? subject
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
}

function uniq(values: readonly string[]): string[] {
  return [...new Set(values)]
}
