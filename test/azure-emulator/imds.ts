import type { Pki } from './pki.js'
import { signAttestedDocument } from './attested-document.js'
import type { AttestedDocument } from './attested-document.js'
import type { EntraKeys } from './entra-keys.js'
import { json } from './http-kit.js'
import type { Reply, RequestContext, Route, Service } from './http-kit.js'
import {
  ATTESTED_MIN_API_VERSION,
  buildInstanceMetadata,
  IMDS_API_VERSIONS,
  selectPath,
} from './imds-instance.js'
import { issueImdsToken } from './imds-token.js'
import type { TokenCache } from './imds-token.js'
import type { World } from './world.js'
import type { Vm } from './world-types.js'

/** Header that picks the VM on a shared IMDS port (the other ways: a `/_vm/<key>` prefix, a per-VM port). */
export const VM_HEADER = 'x-azure-emulator-vm'
const VM_PREFIX_RE = /^\/_vm\/([^/]+)(\/.*)$/
const NONCE_MAX = 32
const NONCE_RE = /^[A-Za-z0-9_-]+$/

export interface ImdsState {
  defaultVm: string
  /** Serve the previous document again, ignoring the nonce (MicrosoftDocs/azure-docs#43938). */
  staleDocuments: boolean
  lastDocuments: Map<string, AttestedDocument>
  tokenCache: TokenCache
}

export interface ImdsDeps {
  world: World
  pki: Pki
  keys: EntraKeys
  now(): Date
  state: ImdsState
}

export function splitVmPrefix(pathname: string): { vmKey?: string; path: string } {
  const m = VM_PREFIX_RE.exec(pathname)
  return m ? { vmKey: decodeURIComponent(m[1]!), path: m[2]! } : { path: pathname }
}

function bad(error: string, extra: Record<string, unknown> = {}): Reply {
  return json(400, { error, ...extra })
}

export function createImdsService(deps: ImdsDeps): Service {
  const route = (
    name: string,
    handle: (ctx: RequestContext, vm: Vm, path: string) => Promise<Reply> | Reply,
    needsVersion = true,
  ): Route => ({
    route: name,
    async handle(ctx) {
      const { vmKey, path } = splitVmPrefix(ctx.url.pathname)
      const problem = checkCommon(ctx, needsVersion)
      if (problem) return problem
      const key = ctx.listener.vmKey ?? headerValue(ctx, VM_HEADER) ?? vmKey ?? deps.state.defaultVm
      const vm = deps.world.findVm(key)
      if (!vm) return json(404, { error: `emulator: no VM ${JSON.stringify(key)}` })
      return handle(ctx, vm, path)
    },
  })
  const routes: Record<string, Route> = {
    versions: route(
      'imds.versions',
      () => json(200, { apiVersions: [...IMDS_API_VERSIONS].reverse() }),
      false,
    ),
    instance: route('imds.instance', (ctx, vm, path) => instance(ctx, vm, path)),
    document: route('imds.document', (ctx, vm) => document(deps, ctx, vm)),
    token: route('imds.token', (ctx, vm) => issueImdsToken(deps, ctx, vm)),
    info: route('imds.identity-info', (_ctx, vm) =>
      json(200, { tenantId: vm.resourceGroup.subscription.tenant.tenantId }),
    ),
  }
  return {
    name: 'imds',
    match(method, url) {
      if (method !== 'GET') return undefined
      const { path } = splitVmPrefix(url.pathname)
      if (path === '/metadata/versions') return routes.versions
      if (path === '/metadata/instance' || path.startsWith('/metadata/instance/'))
        return routes.instance
      if (path === '/metadata/attested/document') return routes.document
      if (path === '/metadata/identity/oauth2/token' || path === '/metadata/identity/oauth2/token/')
        return routes.token
      if (path === '/metadata/identity/info') return routes.info
      return undefined
    },
    notFound: () => json(404, { error: 'Not found' }),
    errorReply: (status) =>
      json(
        status,
        status === 429
          ? { error: 'Too many requests' }
          : { error: `IMDS emulator injected status ${status}` },
      ),
  }
}

function headerValue(ctx: RequestContext, name: string): string | undefined {
  const v = ctx.req.headers[name]
  return typeof v === 'string' && v.length > 0 ? v : undefined
}

function checkCommon(ctx: RequestContext, needsVersion: boolean): Reply | undefined {
  if (ctx.req.headers['x-forwarded-for'] !== undefined) {
    return bad(
      'Bad request. X-Forwarded-For header is not allowed. For more information refer to aka.ms/azureimds',
    )
  }
  if (headerValue(ctx, 'metadata')?.toLowerCase() !== 'true') {
    return ctx.url.pathname.includes('/identity/')
      ? json(400, {
          error: 'invalid_request',
          error_description: 'Required metadata header not specified',
        })
      : bad('Bad request. Required metadata header not specified')
  }
  const keys = [...ctx.url.searchParams.keys()]
  if (new Set(keys).size !== keys.length)
    return bad('Bad request. Query parameters must not be repeated')
  if (!needsVersion) return undefined
  const version = ctx.url.searchParams.get('api-version')
  const newest = { 'newest-versions': IMDS_API_VERSIONS.slice(0, 3) }
  if (version === null) {
    return bad(
      'Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds',
      newest,
    )
  }
  if (!(IMDS_API_VERSIONS as readonly string[]).includes(version)) {
    return bad(
      'Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds',
      newest,
    )
  }
  return undefined
}

function instance(ctx: RequestContext, vm: Vm, path: string): Reply {
  const apiVersion = ctx.url.searchParams.get('api-version')!
  const segments = path
    .split('/')
    .slice(3)
    .filter((s) => s.length > 0)
  const value = selectPath(buildInstanceMetadata(vm, apiVersion), segments)
  if (value === undefined) return json(404, { error: 'Not found' })
  if (ctx.url.searchParams.get('format') === 'text') {
    if (typeof value === 'object' && value !== null)
      return bad('Bad request. Text format is only supported for leaf nodes')
    return {
      status: 200,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body: String(value),
    }
  }
  return json(200, value)
}

function document(deps: ImdsDeps, ctx: RequestContext, vm: Vm): Reply {
  const apiVersion = ctx.url.searchParams.get('api-version')!
  if (apiVersion < ATTESTED_MIN_API_VERSION)
    return bad('Bad request. api-version is not supported for attested data')
  if (!vm.attestedData) return json(404, { error: 'Not found' })
  const nonce = ctx.url.searchParams.get('nonce') ?? undefined
  if (nonce !== undefined && (nonce.length > NONCE_MAX || !NONCE_RE.test(nonce))) {
    return bad('Bad request. Invalid nonce: use up to 32 alphanumeric characters')
  }
  const last = deps.state.lastDocuments.get(vm.id)
  if (deps.state.staleDocuments && last) return json(200, last.body)
  const doc = signAttestedDocument({
    vmId: vm.vmId,
    subscriptionId: vm.resourceGroup.subscription.subscriptionId,
    signer: deps.pki.leafFor(vm.resourceGroup.subscription.tenant.cloud.name, vm.location),
    now: deps.now(),
    licenseType: vm.licenseType,
    plan: vm.plan,
    sku: vm.sku,
    ...(nonce === undefined ? {} : { nonce }),
  })
  deps.state.lastDocuments.set(vm.id, doc)
  return json(200, doc.body)
}
