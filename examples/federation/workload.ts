#!/usr/bin/env node
// A workload that reaches Azure with no secret: its SPIFFE identity is the credential.
//
// It asks the SPIRE agent's Workload API for a JWT-SVID with audience `api://AzureADTokenExchange`,
// hands it to Microsoft Entra ID as a federated client assertion (`@azure/identity`'s
// ClientAssertionCredential, which calls back for a fresh JWT-SVID whenever it needs a new token),
// and calls Azure Resource Manager with the access token Entra returns. Entra accepts the assertion
// because the app registration holds a federated identity credential naming SPIRE's OIDC discovery
// URL as issuer and the workload's SPIFFE ID as subject (README.md beside this file).
//
//   node dist/examples/federation/workload.js --socket /run/spire/agent.sock \
//     --tenant-id <tenant> --client-id <app> --subscription-id <subscription>
//
// Prints one JSON object on stdout: the SPIFFE ID used, the token's expiry, and what ARM answered.
import { ClientAssertionCredential, type TokenCredentialOptions } from '@azure/identity'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { nodeHttp, parseJsonBody } from '../../shared/azure/http.js'
import { WorkloadApiClient } from './workload-api.js'

/** The audience Entra requires in federated assertions (public cloud; see README for others). */
export const ENTRA_FEDERATION_AUDIENCE = 'api://AzureADTokenExchange'

export interface AzureAccessOptions {
  /** The SPIRE agent's Workload API socket. */
  socketPath: string
  tenantId: string
  /** The app registration (client) ID holding the federated identity credential. */
  clientId: string
  subscriptionId: string
  /** Entra ID authority (default https://login.microsoftonline.com). */
  authorityHost?: string
  /** Resource Manager endpoint (default https://management.azure.com). */
  resourceManager?: string
  /** Extra PEM CA certificates to trust for Entra and ARM (e.g. the Azure emulator's). */
  caPem?: string
  audience?: string
}

export interface AzureAccessResult {
  spiffeId: string
  tenantId: string
  clientId: string
  tokenExpiresOn: string
  arm: { request: string; status: number; subscriptionId?: string; displayName?: string }
}

/** Gets an Entra access token with a JWT-SVID as the client assertion, then reads one subscription. */
export async function accessAzureWithSpiffe(o: AzureAccessOptions): Promise<AzureAccessResult> {
  const workload = new WorkloadApiClient(o.socketPath)
  let spiffeId = ''
  try {
    const tls: TokenCredentialOptions = o.caPem === undefined ? {} : { tlsOptions: { ca: o.caPem } }
    const credential = new ClientAssertionCredential(
      o.tenantId,
      o.clientId,
      async () => {
        // a fresh JWT-SVID for every token request: SVIDs are short-lived, tokens outlive them
        const svid = await workload.fetchJwtSvid(o.audience ?? ENTRA_FEDERATION_AUDIENCE)
        spiffeId = svid.spiffeId
        return svid.token
      },
      {
        ...(o.authorityHost === undefined ? {} : { authorityHost: o.authorityHost }),
        // an authority other than Entra's public ones cannot be discovered through Entra
        disableInstanceDiscovery: o.authorityHost !== undefined,
        ...tls,
      },
    )
    const arm = (o.resourceManager ?? 'https://management.azure.com').replace(/\/+$/, '')
    const token = await credential.getToken('https://management.azure.com/.default')
    const request = `GET ${arm}/subscriptions/${o.subscriptionId}?api-version=2022-12-01`
    const res = await armGet(
      `${arm}/subscriptions/${o.subscriptionId}?api-version=2022-12-01`,
      token.token,
      o.caPem,
    )
    const body = res.body as { subscriptionId?: string; displayName?: string }
    return {
      spiffeId,
      tenantId: o.tenantId,
      clientId: o.clientId,
      tokenExpiresOn: new Date(token.expiresOnTimestamp).toISOString(),
      arm: {
        request,
        status: res.status,
        ...(body.subscriptionId === undefined ? {} : { subscriptionId: body.subscriptionId }),
        ...(body.displayName === undefined ? {} : { displayName: body.displayName }),
      },
    }
  } finally {
    workload.close()
  }
}

/** One GET with a bearer token through the plugins' own transport (timeouts, body cap, proxies). */
async function armGet(
  url: string,
  token: string,
  caPem?: string,
): Promise<{ status: number; body: unknown }> {
  const res = await nodeHttp({
    url,
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    timeoutMs: 30_000,
    maxBytes: 1024 * 1024,
    ...(caPem === undefined ? {} : { extraCa: [caPem] }),
  })
  let body: unknown
  try {
    body = parseJsonBody(res.body)
  } catch {
    body = {} // not JSON: the status tells
  }
  return { status: res.status, body }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      socket: { type: 'string' },
      'tenant-id': { type: 'string' },
      'client-id': { type: 'string' },
      'subscription-id': { type: 'string' },
      'authority-host': { type: 'string' },
      'resource-manager': { type: 'string' },
      'ca-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const env = process.env
  const socket = values.socket ?? env['SPIFFE_ENDPOINT_SOCKET']?.replace(/^unix:(\/\/)?/, '')
  const tenantId = values['tenant-id'] ?? env['AZURE_TENANT_ID']
  const clientId = values['client-id'] ?? env['AZURE_CLIENT_ID']
  const subscriptionId = values['subscription-id'] ?? env['AZURE_SUBSCRIPTION_ID']
  if (values.help || !socket || !tenantId || !clientId || !subscriptionId) {
    process.stderr.write(
      'usage: workload.js --socket PATH --tenant-id ID --client-id ID --subscription-id ID\n' +
        '         [--authority-host URL] [--resource-manager URL] [--ca-file PEM]\n' +
        '(or SPIFFE_ENDPOINT_SOCKET, AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_SUBSCRIPTION_ID)\n',
    )
    process.exit(values.help ? 0 : 2)
  }
  const authorityHost = values['authority-host'] ?? env['AZURE_AUTHORITY_HOST']
  const resourceManager = values['resource-manager']
  const result = await accessAzureWithSpiffe({
    socketPath: socket,
    tenantId,
    clientId,
    subscriptionId,
    ...(authorityHost === undefined ? {} : { authorityHost }),
    ...(resourceManager === undefined ? {} : { resourceManager }),
    ...(values['ca-file'] === undefined ? {} : { caPem: readFileSync(values['ca-file'], 'utf8') }),
  })
  process.stdout.write(`${JSON.stringify(result)}\n`)
  if (result.arm.status !== 200) process.exit(1)
}

if (
  process.argv[1] !== undefined &&
  import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href
) {
  main().catch((err: unknown) => {
    process.stderr.write(`workload: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  })
}
