// One way to produce each failure docs/troubleshooting.md documents, for real: the bundled plugin
// executables (dist/bin) driven by the host launcher as SPIRE drives them, against the Azure
// emulator. A case returns what the host saw — the status and the plugin process (its log lines,
// its metrics) — and the test compares that with the page.
import { status as GrpcStatus } from '@grpc/grpc-js'
import { randomUUID } from 'node:crypto'
import { encodeMsiPayload } from '../../shared/azure/payloads.js'
import { encodeImdsPayload, type ImdsUntrustedMetadata } from '../../shared/azure/imds-payload.js'
import {
  AgentSession,
  HostCallError,
  PluginProcess,
  serverAttest,
  SPIRE_HOST_SERVICES,
} from '../../shared/host/index.js'
import type { Emulator } from '../azure-emulator/index.js'
import type { DocumentOptions, MsiTokenOptions } from '../azure-emulator/emulator-helpers.js'
import {
  agentHcl,
  IMDS_AGENT_MAIN,
  IMDS_SERVER_MAIN,
  loadImdsAgent,
  loadImdsServer,
  serverHcl,
  tenantHcl,
} from '../support/azure-imds-plugins.js'
import {
  agentHclFor,
  loadMsi,
  MSI_AGENT_MAIN,
  MSI_SERVER_MAIN,
  serverHclFor,
  type TenantHcl,
} from '../support/azure-msi-plugins.js'
import type { CraftedPki } from './crafted-pki.js'

/** What the host saw when the plugin refused. */
export interface Observed {
  error: HostCallError
  /** The process that failed: its log lines, and for server attestations its metrics. */
  plugin: PluginProcess
}

export interface Env {
  emu: Emulator
  crafted: CraftedPki
  /** azure_msi server for tenant contoso (stateless refusals share it). */
  msi: PluginProcess
  /** azure_imds server for contoso and fabrikam-gov, trusting the emulator's roots. */
  imds: PluginProcess
  /** A new plugin process, closed after the file's tests. */
  track<T extends PluginProcess>(p: Promise<T>): Promise<T>
}

export type Case = (env: Env) => Promise<Observed[]>

const CONTOSO_DOMAIN = 'contoso.onmicrosoft.com'
const OTHER_GUID = '11111111-2222-4333-8444-555555555555'
const HOUR_S = 3600

/** Resolves with what the host saw when `attempt` is refused; a success is a failed case. */
async function refused(plugin: PluginProcess, attempt: Promise<unknown>): Promise<Observed> {
  try {
    await attempt
  } catch (err) {
    if (err instanceof HostCallError) return { error: err, plugin }
    throw err
  }
  throw new Error(`expected ${plugin.name} to refuse, but it succeeded`)
}

const b64u = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

async function token(env: Env, o: MsiTokenOptions): Promise<string> {
  return (await env.emu.tokens.issueMsiToken(o)).token
}

function attestMsi(server: PluginProcess, tokenOrPayload: string | Uint8Array) {
  const payload =
    typeof tokenOrPayload === 'string' ? encodeMsiPayload(tokenOrPayload) : tokenOrPayload
  return refused(server, serverAttest(server, payload))
}

function msiServer(env: Env, tenants: TenantHcl[], extra = ''): Promise<PluginProcess> {
  return env.track(loadMsi('server', serverHclFor(env.emu, tenants, extra)))
}

/** Answers the server's nonce with `answer(nonce)`, as an agent would. */
function attestImds(
  server: PluginProcess,
  answer: (nonce: string) => Uint8Array | Promise<Uint8Array>,
): Promise<Observed> {
  return refused(
    server,
    serverAttest(server, Buffer.from('non_empty_payload'), {
      onChallenge: async (c) => answer(Buffer.from(c).toString('latin1')),
    }),
  )
}

interface DocAnswer extends DocumentOptions {
  meta?: Partial<ImdsUntrustedMetadata>
  /** Replaces the signed document (`encoding`, `signature`) the agent relays. */
  body?: { encoding: string; signature: string }
}

/** The agent's challenge response for a document IMDS signed for frontend/blog (by default). */
function docAnswer(env: Env, nonce: string, o: DocAnswer = {}): Uint8Array {
  const { meta, body, ...doc } = o
  const signed = env.emu.documents.signAttestedDocument({ vm: 'frontend/blog', nonce, ...doc })
  return encodeImdsPayload({
    document: body ?? signed.body,
    metadata: { agentDomain: CONTOSO_DOMAIN, vmssName: null, resourceId: null, ...meta },
  })
}

const imdsDoc = (env: Env, server: PluginProcess, o: DocAnswer = {}) =>
  attestImds(server, (nonce) => docAnswer(env, nonce, o))

function imdsServer(env: Env, tenants: string, extra = ''): Promise<PluginProcess> {
  return env.track(loadImdsServer(serverHcl(env.emu, tenants, extra)))
}

/** A server that has never verified a chain, so no intermediate is cached yet. */
const pristineImds = (env: Env) => imdsServer(env, tenantHcl(env.emu, 'contoso'))

/** A server whose roots and AIA issuers are the crafted PKI's. */
function craftedImds(env: Env): Promise<PluginProcess> {
  const e = env.emu.endpoints
  return env.track(
    loadImdsServer(`tenants = {
  ${tenantHcl(env.emu, 'contoso')}
}
trust_bundle_path = "${env.crafted.trustBundlePath}"
endpoints = {
  authority_host = "${e.entra}"
  resource_manager = "${e.arm}"
  ca_file = "${e.caFile}"
  aia_issuers = "${env.crafted.aiaIssuers}"
}`),
  )
}

const armForbidden = (action: string) => ({
  kind: 'status' as const,
  status: 403,
  body: {
    error: {
      code: 'AuthorizationFailed',
      message: `The client '${OTHER_GUID}' with object id '${OTHER_GUID}' does not have authorization to perform action '${action}' over scope '/subscriptions/${OTHER_GUID}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    },
  },
})

const vm = (env: Env, key: string) => env.emu.world.vm(key)
const tid = (env: Env, tenant = 'contoso') => env.emu.world.tenant(tenant).tenantId
const msiAgentId = (env: Env, key: string) =>
  `spiffe://example.org/spire/agent/azure_msi/${tid(env)}/${vm(env, key).identity.system!.principalId}`
const imdsAgentId = (env: Env, key: string) => {
  const v = vm(env, key)
  return `spiffe://example.org/spire/agent/azure_imds/${tid(env)}/${v.resourceGroup.subscription.subscriptionId}/${v.vmId}`
}

async function withFault<T>(
  env: Env,
  route: string,
  fault: Parameters<Emulator['faults']['set']>[1],
  run: () => Promise<T>,
): Promise<T> {
  env.emu.faults.set(route, fault)
  try {
    return await run()
  } finally {
    env.emu.faults.clear(route)
  }
}

/** A refusal from the agent plugin alone (SPIRE's agent never reaches the server). */
async function agentRefusal(
  agent: Promise<PluginProcess>,
  env: Env,
  challenge?: Uint8Array,
): Promise<Observed> {
  const plugin = await env.track(agent)
  if (challenge === undefined) return refused(plugin, AgentSession.open(plugin))
  const { session } = await AgentSession.open(plugin)
  try {
    return await refused(plugin, session.respond(challenge))
  } finally {
    session.close()
  }
}

/** Configure refusals: one launched (Init'ed, never configured) process per executable. */
const configurable = new WeakMap<Env, Map<string, Promise<PluginProcess>>>()
function unconfigured(env: Env, command: string, side: 'server' | 'agent', name: string) {
  let byCommand = configurable.get(env)
  if (byCommand === undefined) configurable.set(env, (byCommand = new Map()))
  let p = byCommand.get(command)
  if (p === undefined) {
    p = env.track(
      PluginProcess.launch({ command, name, side }).then(async (plugin) => {
        await plugin.init()
        return plugin
      }),
    )
    byCommand.set(command, p)
  }
  return p
}
async function configureRefusal(
  env: Env,
  which: 'msi' | 'imds',
  side: 'server' | 'agent',
  hcl: string,
): Promise<Observed> {
  const command =
    which === 'msi'
      ? side === 'server'
        ? MSI_SERVER_MAIN
        : MSI_AGENT_MAIN
      : side === 'server'
        ? IMDS_SERVER_MAIN
        : IMDS_AGENT_MAIN
  const plugin = await unconfigured(env, command, side, `azure_${which}`)
  return refused(plugin, plugin.configure(hcl))
}

const badDomain = 'nosuch.onmicrosoft.com'

/** Every entry of the page, by its heading. */
export const CASES: Record<string, Case> = {
  // ---- server azure_msi ----------------------------------------------------------------------
  'server azure_msi · malformed_payload': async (env) => [
    await attestMsi(env.msi, Buffer.from('not json')),
  ],
  'server azure_msi · missing_token': async (env) => [
    await attestMsi(env.msi, Buffer.from('{"token":""}')),
  ],
  'server azure_msi · malformed_token': async (env) => [await attestMsi(env.msi, 'abc.def')],
  'server azure_msi · missing_key_id': async (env) => [
    await attestMsi(
      env.msi,
      `${b64u({ alg: 'RS256', typ: 'JWT' })}.${b64u({ tid: tid(env) })}.c2ln`,
    ),
  ],
  'server azure_msi · unknown_key_id': async (env) => [
    await attestMsi(
      env.msi,
      `${b64u({ alg: 'RS256', typ: 'JWT', kid: 'no-such-key' })}.${b64u({ tid: tid(env) })}.c2ln`,
    ),
  ],
  'server azure_msi · jwks_unavailable': async (env) => {
    const server = await msiServer(env, [{ tenant: 'contoso' }])
    const t = await token(env, { vm: 'frontend/blog' })
    env.emu.entra.setOutage(true)
    try {
      return [await attestMsi(server, t)]
    } finally {
      env.emu.entra.setOutage(false)
    }
  },
  'server azure_msi · jwks_unavailable (refused)': async (env) => {
    const server = await msiServer(env, [{ tenant: 'contoso' }])
    const t = await token(env, { vm: 'frontend/blog' })
    const notFound = {
      kind: 'status' as const,
      status: 404,
      body: { error: 'not_found', error_description: 'AADSTS90100: The endpoint does not exist.' },
    }
    return withFault(env, 'entra.jwks', notFound, async () => [await attestMsi(server, t)])
  },
  'server azure_msi · bad_signature': async (env) => {
    const issued = await env.emu.tokens.issueMsiToken({ vm: 'frontend/blog' })
    const [header, , signature] = issued.token.split('.')
    const forged = b64u({ ...issued.claims, sub: OTHER_GUID, oid: OTHER_GUID })
    return [await attestMsi(env.msi, `${header}.${forged}.${signature}`)]
  },
  'server azure_msi · missing_tenant': async (env) => [
    await attestMsi(env.msi, await token(env, { vm: 'frontend/blog', claims: { tid: null } })),
  ],
  'server azure_msi · missing_subject': async (env) => [
    await attestMsi(env.msi, await token(env, { vm: 'frontend/blog', claims: { sub: null } })),
  ],
  'server azure_msi · tenant_not_authorized': async (env) => {
    const govOnly = await msiServer(env, [
      { tenant: 'fabrikam-gov', extra: 'cloud_environment = "AzureUSGovernmentCloud"' },
    ])
    return [await attestMsi(govOnly, await token(env, { vm: 'frontend/blog' }))]
  },
  'server azure_msi · invalid_audience': async (env) => [
    await attestMsi(
      env.msi,
      await token(env, { vm: 'frontend/blog', resource: 'https://vault.azure.net' }),
    ),
  ],
  'server azure_msi · token_not_yet_valid': async (env) => {
    const nbf = Math.floor(Date.now() / 1000) + HOUR_S
    return [await attestMsi(env.msi, await token(env, { vm: 'frontend/blog', claims: { nbf } }))]
  },
  'server azure_msi · token_expired': async (env) => {
    const twoDaysAgo = new Date(Date.now() - 48 * HOUR_S * 1000)
    return [await attestMsi(env.msi, await token(env, { vm: 'frontend/blog', now: twoDaysAgo }))]
  },
  'server azure_msi · missing_expiry': async (env) => [
    await attestMsi(env.msi, await token(env, { vm: 'frontend/blog', claims: { exp: null } })),
  ],
  'server azure_msi · token_issued_in_future': async (env) => {
    const iat = Math.floor(Date.now() / 1000) + HOUR_S
    return [await attestMsi(env.msi, await token(env, { vm: 'frontend/blog', claims: { iat } }))]
  },
  'server azure_msi · issuer_mismatch': async (env) => [
    await attestMsi(
      env.msi,
      await token(env, {
        vm: 'frontend/blog',
        claims: { iss: `https://sts.windows.net/${OTHER_GUID}/` },
      }),
    ),
  ],
  'server azure_msi · not_an_app_token': async (env) => [
    await attestMsi(env.msi, await token(env, { vm: 'frontend/blog', claims: { idtyp: 'user' } })),
  ],
  'server azure_msi · principal_not_authorized': async (env) => {
    const server = await msiServer(env, [
      { tenant: 'contoso', extra: `principal_ids = ["${OTHER_GUID}"]` },
    ])
    return [await attestMsi(server, await token(env, { vm: 'frontend/blog' }))]
  },
  'server azure_msi · server_subscription_unknown': async (env) => {
    const e = env.emu.endpoints
    const server = await env.track(
      loadMsi(
        'server',
        `tenants = { "${tid(env)}" = {} }
endpoints {
  authority_host = "${e.entra}"
  resource_manager = "${e.arm}"
  imds = "http://127.0.0.1:9"
  ca_file = "${e.caFile}"
}`,
      ),
    )
    return [await attestMsi(server, await token(env, { vm: 'frontend/blog' }))]
  },
  'server azure_msi · subscription_not_authorized': async (env) => {
    const server = await msiServer(env, [{ tenant: 'contoso', subscription: OTHER_GUID }])
    return [await attestMsi(server, await token(env, { vm: 'frontend/blog' }))]
  },
  'server azure_msi · identity_not_attached': async (env) => [
    await attestMsi(
      env.msi,
      await token(env, { vm: 'frontend/blog', claims: { xms_mirid: vm(env, 'frontend/api').id } }),
    ),
  ],
  'server azure_msi · principal_lookup_failed (not found)': async (env) => [
    await attestMsi(
      env.msi,
      await token(env, { vm: 'frontend/api', claims: { xms_mirid: null, xms_az_rid: null } }),
    ),
  ],
  'server azure_msi · principal_lookup_failed (ARM refused)': async (env) => {
    const server = await msiServer(env, [{ tenant: 'contoso' }])
    const t = await token(env, { vm: 'frontend/blog', claims: { xms_mirid: null } })
    return withFault(
      env,
      'arm.resources.list',
      armForbidden('Microsoft.Resources/subscriptions/resources/read'),
      async () => [await attestMsi(server, t)],
    )
  },
  'server azure_msi · principal_lookup_failed (ARM unavailable)': async (env) => {
    const server = await msiServer(env, [{ tenant: 'contoso' }])
    const t = await token(env, { vm: 'frontend/blog', claims: { xms_mirid: null } })
    // retried (4 requests, ~3.5 s of backoff), then refused
    return withFault(env, 'arm.resources.list', { kind: 'status', status: 500 }, async () => [
      await attestMsi(server, t),
    ])
  },
  'server azure_msi · arm_lookup_failed (unavailable)': async (env) => {
    const server = await msiServer(env, [{ tenant: 'contoso' }])
    const t = await token(env, { vm: 'frontend/blog' })
    return withFault(env, 'arm.vm.get', { kind: 'status', status: 500 }, async () => [
      await attestMsi(server, t),
    ])
  },
  'server azure_msi · arm_lookup_failed': async (env) => {
    const server = await msiServer(env, [{ tenant: 'contoso' }])
    const t = await token(env, { vm: 'frontend/blog' })
    return withFault(
      env,
      'arm.vm.get',
      armForbidden('Microsoft.Compute/virtualMachines/read'),
      async () => [await attestMsi(server, t)],
    )
  },
  'server azure_msi · arm_lookup_failed (throttled)': async (env) => {
    const server = await msiServer(env, [{ tenant: 'contoso' }])
    const t = await token(env, { vm: 'frontend/blog' })
    return withFault(env, 'arm.vm.get', { kind: 'throttle', retryAfterS: 120 }, async () => [
      await attestMsi(server, t),
    ])
  },
  'server azure_msi · malformed_id': async (env) => {
    const server = await msiServer(env, [{ tenant: 'contoso' }])
    const t = await token(env, { vm: 'frontend/blog', claims: { xms_mirid: null } })
    const sub = env.emu.world.subscription('prod').subscriptionId
    const fault = {
      kind: 'status' as const,
      status: 200,
      body: {
        value: [
          {
            id: `/subscriptions/${sub}/resourceGroups/frontend/providers/Microsoft.Compute/virtualMachines`,
          },
        ],
      },
    }
    return withFault(env, 'arm.resources.list', fault, async () => [await attestMsi(server, t)])
  },
  'server azure_msi · jwks_unavailable (ca_file)': async (env) => {
    const e = env.emu.endpoints
    const server = await env.track(
      loadMsi(
        'server',
        serverHclFor(env.emu, [{ tenant: 'contoso' }]).replace(
          `ca_file = "${e.caFile}"`,
          'ca_file = "/nonexistent/emulator-ca.pem"',
        ),
      ),
    )
    return [await attestMsi(server, await token(env, { vm: 'frontend/blog' }))]
  },
  'server azure_imds · aia_fetch_failed (ca_file)': async (env) => {
    const e = env.emu.endpoints
    const server = await env.track(
      loadImdsServer(
        serverHcl(env.emu, tenantHcl(env.emu, 'contoso')).replace(
          `ca_file = "${e.caFile}"`,
          'ca_file = "/nonexistent/emulator-ca.pem"',
        ),
      ),
    )
    return [await imdsDoc(env, server)]
  },

  // ---- both server plugins -------------------------------------------------------------------
  'server azure_msi, azure_imds · already_attested': async (env) => {
    env.msi.agentStore.add(msiAgentId(env, 'frontend/blog'))
    env.imds.agentStore.add(imdsAgentId(env, 'frontend/blog'))
    try {
      return [
        await attestMsi(env.msi, await token(env, { vm: 'frontend/blog' })),
        await imdsDoc(env, env.imds),
      ]
    } finally {
      env.msi.agentStore.remove(msiAgentId(env, 'frontend/blog'))
      env.imds.agentStore.remove(imdsAgentId(env, 'frontend/blog'))
    }
  },
  'server azure_msi, azure_imds · agent_store_failed': async (env) => {
    const fail = { code: GrpcStatus.UNKNOWN, details: 'datastore-sql: database is locked' }
    env.msi.agentStore.failWith = fail
    env.imds.agentStore.failWith = fail
    try {
      return [
        await attestMsi(env.msi, await token(env, { vm: 'frontend/blog' })),
        await imdsDoc(env, env.imds),
      ]
    } finally {
      env.msi.agentStore.failWith = undefined
      env.imds.agentStore.failWith = undefined
    }
  },
  'server azure_msi, azure_imds · agent_id_failed': async (env) => {
    const msi = await msiServer(
      env,
      [{ tenant: 'contoso' }],
      'agent_path_template = "/{{ .PluginName }}//{{ .PrincipalID }}"',
    )
    const imds = await imdsServer(
      env,
      tenantHcl(env.emu, 'contoso'),
      'agent_path_template = "/{{ .PluginName }}//{{ .VMID }}"',
    )
    return [
      await attestMsi(msi, await token(env, { vm: 'frontend/blog' })),
      await imdsDoc(env, imds),
    ]
  },

  // ---- server azure_imds ---------------------------------------------------------------------
  'server azure_imds · missing_payload': async (env) => [
    await attestImds(env.imds, () => new Uint8Array()),
  ],
  'server azure_imds · malformed_payload': async (env) => [
    await attestImds(env.imds, () => Buffer.from('not json')),
  ],
  'server azure_imds · missing_signature': async (env) => [
    await imdsDoc(env, env.imds, { body: { encoding: 'pkcs7', signature: '' } }),
  ],
  'server azure_imds · unsupported_encoding': async (env) => [
    await attestImds(env.imds, (nonce) => {
      const signed = env.emu.documents.signAttestedDocument({ vm: 'frontend/blog', nonce })
      return docAnswer(env, nonce, { body: { encoding: 'json', signature: signed.body.signature } })
    }),
  ],
  'server azure_imds · document_too_large': async (env) => [
    await imdsDoc(env, env.imds, { contentText: JSON.stringify({ padding: 'x'.repeat(17_000) }) }),
  ],
  'server azure_imds · bad_base64': async (env) => [
    await imdsDoc(env, env.imds, { body: { encoding: 'pkcs7', signature: 'not%base64' } }),
  ],
  'server azure_imds · malformed_pkcs7': async (env) => [
    await imdsDoc(env, env.imds, {
      body: {
        encoding: 'pkcs7',
        signature: Buffer.from('not a PKCS#7 envelope').toString('base64'),
      },
    }),
  ],
  'server azure_imds · no_certificates': async (env) => [
    await imdsDoc(env, env.imds, { certificates: [] }),
  ],
  'server azure_imds · too_many_certificates': async (env) => [
    await imdsDoc(env, env.imds, {
      certificates: Array(9).fill(env.emu.pki.leaves.public.cert),
    }),
  ],
  'server azure_imds · signer_not_resolved': async (env) => [
    await imdsDoc(env, env.imds, { secondSigner: env.emu.pki.leaves.usgov }),
  ],
  'server azure_imds · unsupported_algorithm': async (env) => [
    await imdsDoc(env, env.imds, { signer: env.emu.pki.bad.ecdsa }),
  ],
  'server azure_imds · bad_signature': async (env) => [
    await imdsDoc(env, env.imds, { signedText: '{"vmId":"forged"}' }),
  ],
  'server azure_imds · san_not_allowed': async (env) => [
    await imdsDoc(env, env.imds, { signer: env.emu.pki.bad.wrongSan }),
  ],
  'server azure_imds · eku_not_server_auth': async (env) => [
    await imdsDoc(env, env.imds, { signer: env.emu.pki.bad.noServerAuth }),
  ],
  'server azure_imds · signer_is_ca': async (env) => [
    await imdsDoc(env, await craftedImds(env), { signer: env.crafted.caLeaf }),
  ],
  'server azure_imds · signer_key_usage': async (env) => [
    await imdsDoc(env, await craftedImds(env), { signer: env.crafted.noDigitalSignature }),
  ],
  'server azure_imds · certificate_expired': async (env) => [
    await imdsDoc(env, env.imds, { signer: env.emu.pki.bad.expired }),
  ],
  'server azure_imds · certificate_not_yet_valid': async (env) => [
    await imdsDoc(env, env.imds, { signer: env.emu.pki.bad.notYetValid }),
  ],
  'server azure_imds · no_aia': async (env) => [
    await imdsDoc(env, await pristineImds(env), { signer: env.emu.pki.bad.noAia }),
  ],
  'server azure_imds · aia_not_allowed': async (env) => [
    await imdsDoc(env, await pristineImds(env), { signer: env.emu.pki.bad.aiaDisallowedHost }),
  ],
  'server azure_imds · aia_fetch_failed': async (env) => {
    const server = await pristineImds(env)
    return withFault(env, 'issuers.certificate', { kind: 'status', status: 404 }, async () => [
      await imdsDoc(env, server),
    ])
  },
  'server azure_imds · issuer_not_ca': async (env) => [
    await imdsDoc(env, await pristineImds(env), { signer: env.emu.pki.bad.nonCaIntermediate }),
  ],
  'server azure_imds · aia_limit': async (env) => [
    await imdsDoc(env, await craftedImds(env), { signer: env.crafted.aiaLimit }),
  ],
  'server azure_imds · chain_untrusted': async (env) => [
    await imdsDoc(env, await craftedImds(env), { signer: env.crafted.wrongIssuer }),
  ],
  'server azure_imds · chain_cycle': async (env) => [
    await imdsDoc(env, await craftedImds(env), { signer: env.crafted.cycle }),
  ],
  'server azure_imds · chain_too_long': async (env) => {
    const server = await craftedImds(env)
    // the first document's chain verifies (then its nonce is wrong): its intermediates are cached
    const warmUp = await imdsDoc(env, server, {
      signer: env.crafted.chainTooLongWarmUp,
      nonce: 'stale',
    })
    if (warmUp.error.details !== 'nonce mismatch')
      throw new Error(`warm-up: ${warmUp.error.message}`)
    return [await imdsDoc(env, server, { signer: env.crafted.chainTooLong })]
  },
  'server azure_imds · path_length_exceeded': async (env) => [
    await imdsDoc(env, await craftedImds(env), { signer: env.crafted.pathLength }),
  ],
  'server azure_imds · issuer_eku': async (env) => [
    await imdsDoc(env, await craftedImds(env), { signer: env.crafted.issuerEku }),
  ],
  'server azure_imds · trust_bundle_invalid': async (env) => {
    const server = await env.track(
      loadImdsServer(
        serverHcl(env.emu, tenantHcl(env.emu, 'contoso')).replace(
          /trust_bundle_path = ".*"/,
          'trust_bundle_path = "/nonexistent/roots.pem"',
        ),
      ),
    )
    return [await imdsDoc(env, server)]
  },
  'server azure_imds · malformed_content': async (env) => [
    await imdsDoc(env, env.imds, { contentText: 'not json' }),
  ],
  'server azure_imds · missing_vm_id': async (env) => [
    await imdsDoc(env, env.imds, { content: { vmId: '' } }),
  ],
  'server azure_imds · missing_subscription_id': async (env) => [
    await imdsDoc(env, env.imds, { content: { subscriptionId: '' } }),
  ],
  'server azure_imds · nonce_mismatch': async (env) => [
    await attestImds(env.imds, () => docAnswer(env, 'aDifferentNonceFromAnotherStream')),
  ],
  'server azure_imds · invalid_vm_id': async (env) => [
    await imdsDoc(env, env.imds, { content: { vmId: 'not-a-vm-id' } }),
  ],
  'server azure_imds · invalid_timestamp': async (env) => [
    await imdsDoc(env, env.imds, {
      content: { timeStamp: { createdOn: 'yesterday', expiresOn: 'tomorrow' } },
    }),
  ],
  'server azure_imds · document_not_yet_valid': async (env) => [
    await imdsDoc(env, env.imds, { now: new Date(Date.now() + 24 * HOUR_S * 1000) }),
  ],
  'server azure_imds · document_expired': async (env) => [
    await imdsDoc(env, env.imds, { now: new Date(Date.now() - 24 * HOUR_S * 1000) }),
  ],
  'server azure_imds · tenant_not_authorized': async (env) => [
    await imdsDoc(env, env.imds, { meta: { agentDomain: badDomain } }),
  ],
  'server azure_imds · subscription_not_authorized': async (env) => {
    const server = await imdsServer(
      env,
      tenantHcl(env.emu, 'contoso', `restrict_to_subscriptions = ["${OTHER_GUID}"]`),
    )
    return [await imdsDoc(env, server)]
  },
  'server azure_imds · tenant_lookup_failed': async (env) => {
    const server = await imdsServer(env, tenantHcl(env.emu, 'contoso', '', badDomain))
    return [await imdsDoc(env, server, { meta: { agentDomain: badDomain } })]
  },
  'server azure_imds · tenant_lookup_failed (unavailable)': async (env) => {
    // keyed by its domain: the first attestation looks the tenant ID up
    const server = await pristineImds(env)
    return withFault(env, 'entra.openid-v1', { kind: 'status', status: 503 }, async () => [
      await imdsDoc(env, server),
    ])
  },
  'server azure_imds · subscription_not_in_tenant': async (env) => [
    await imdsDoc(env, env.imds, {
      vm: 'frontend/api',
      meta: { agentDomain: 'fabrikam.onmicrosoft.us' },
    }),
  ],
  'server azure_imds · subscription_lookup_failed': async (env) => {
    const app = env.emu.world.tenant('contoso').apps[0]!
    const server = await imdsServer(
      env,
      `"${CONTOSO_DOMAIN}" = {
    secret_auth = { app_id = "${app.clientId}" app_secret = "not-the-secret" }
  }`,
    )
    return [await imdsDoc(env, server)]
  },
  'server azure_imds · subscription_lookup_failed (unavailable)': async (env) => {
    const server = await pristineImds(env)
    return withFault(env, 'arm.subscription.get', { kind: 'status', status: 500 }, async () => [
      await imdsDoc(env, server),
    ])
  },
  'server azure_imds · invalid_vmss_name': async (env) => [
    await imdsDoc(env, env.imds, { meta: { vmssName: '-web-' } }),
  ],
  'server azure_imds · invalid_resource_id': async (env) => [
    await imdsDoc(env, env.imds, { meta: { resourceId: 'frontend/blog' } }),
  ],
  'server azure_imds · resource_id_mismatch': async (env) => [
    await imdsDoc(env, env.imds, { meta: { resourceId: vm(env, 'frontend/api').id } }),
  ],
  'server azure_imds · vm_not_found': async (env) => [
    await imdsDoc(env, env.imds, {
      vm: undefined,
      vmId: randomUUID(),
      subscriptionId: env.emu.world.subscription('prod').subscriptionId,
    }),
  ],
  'server azure_imds · vm_ambiguous': async (env) => {
    const server = await pristineImds(env)
    const rows = ['frontend/blog', 'frontend/api'].map((k) => ({ id: vm(env, k).id }))
    const fault = {
      kind: 'status' as const,
      status: 200,
      body: { totalRecords: 2, count: 2, data: rows },
    }
    return withFault(env, 'arm.resource-graph', fault, async () => [await imdsDoc(env, server)])
  },
  'server azure_imds · malformed_vm_id': async (env) => {
    const server = await pristineImds(env)
    const sub = env.emu.world.subscription('prod').subscriptionId
    const rows = [
      {
        id: `/subscriptions/${sub}/resourceGroups/frontend/providers/Microsoft.Compute/virtualMachines`,
      },
    ]
    const fault = {
      kind: 'status' as const,
      status: 200,
      body: { totalRecords: 1, count: 1, data: rows },
    }
    return withFault(env, 'arm.resource-graph', fault, async () => [await imdsDoc(env, server)])
  },
  'server azure_imds · malformed_nic_id': async (env) => {
    const server = await pristineImds(env)
    const blog = vm(env, 'frontend/blog')
    const body = {
      id: blog.id,
      name: blog.name,
      location: blog.location,
      properties: { vmId: blog.vmId, networkProfile: { networkInterfaces: [{ id: 'blog-nic' }] } },
    }
    return withFault(env, 'arm.vm.get', { kind: 'status', status: 200, body }, async () => [
      await imdsDoc(env, server),
    ])
  },
  'server azure_imds · arm_failed': async (env) => {
    const server = await pristineImds(env)
    return withFault(
      env,
      'arm.vm.get',
      armForbidden('Microsoft.Compute/virtualMachines/read'),
      async () => [await imdsDoc(env, server)],
    )
  },
  'server azure_imds · arm_failed (unavailable)': async (env) => {
    const server = await pristineImds(env)
    return withFault(env, 'arm.vm.get', { kind: 'status', status: 500 }, async () => [
      await imdsDoc(env, server),
    ])
  },
  'server azure_imds · arm_throttled': async (env) => {
    const server = await pristineImds(env)
    return withFault(env, 'arm.vm.get', { kind: 'throttle', retryAfterS: 120 }, async () => [
      await imdsDoc(env, server),
    ])
  },

  // ---- loading ---------------------------------------------------------------------------------
  'server azure_msi, azure_imds · agent_store_unavailable': async (env) => {
    const out: Observed[] = []
    for (const [command, name] of [
      [MSI_SERVER_MAIN, 'azure_msi'],
      [IMDS_SERVER_MAIN, 'azure_imds'],
    ] as const) {
      // SPIRE's agent offers no AgentStore: a server executable configured in spire-agent
      const plugin = await env.track(
        PluginProcess.launch({
          command,
          name,
          side: 'server',
          hostServiceNames: SPIRE_HOST_SERVICES.agent,
        }),
      )
      out.push(await refused(plugin, plugin.init()))
    }
    return out
  },

  // ---- agent azure_msi -------------------------------------------------------------------------
  'agent azure_msi · token_fetch_failed (IMDS unreachable)': async (env) => [
    await agentRefusal(
      loadMsi('agent', 'imds_endpoint = "http://127.0.0.1:9"\nretry_timeout = "1s"'),
      env,
    ),
  ],
  'agent azure_msi · token_fetch_failed (no identity)': async (env) => [
    await agentRefusal(loadMsi('agent', agentHclFor(env.emu, 'frontend/plain')), env),
  ],
  'agent azure_msi · token_fetch_failed (several identities)': async (env) => [
    await agentRefusal(loadMsi('agent', agentHclFor(env.emu, 'frontend/multi')), env),
  ],

  // ---- agent azure_imds ------------------------------------------------------------------------
  'agent azure_imds · document_fetch_failed (IMDS unreachable)': async (env) => [
    await agentRefusal(
      loadImdsAgent(
        `tenant_domain = "${CONTOSO_DOMAIN}"\nimds_endpoint = "http://127.0.0.1:9"\nretry_timeout = "1s"`,
      ),
      env,
      Buffer.from('hQ3vT0bX9kLm2ZpR7sYw4NcD1eFgJ8aU'),
    ),
  ],
  'agent azure_imds · document_fetch_failed (no attested data)': async (env) =>
    withFault(env, 'imds.document', { kind: 'status', status: 404 }, async () => [
      await agentRefusal(
        loadImdsAgent(agentHcl(env.emu, 'frontend/blog')),
        env,
        Buffer.from('hQ3vT0bX9kLm2ZpR7sYw4NcD1eFgJ8aU'),
      ),
    ]),
  'agent azure_imds · metadata_fetch_failed': async (env) =>
    withFault(env, 'imds.instance', { kind: 'status', status: 404 }, async () => [
      await agentRefusal(
        loadImdsAgent(agentHcl(env.emu, 'frontend/blog')),
        env,
        Buffer.from('hQ3vT0bX9kLm2ZpR7sYw4NcD1eFgJ8aU'),
      ),
    ]),
  'agent azure_imds · invalid_challenge': async (env) => [
    await agentRefusal(
      loadImdsAgent(agentHcl(env.emu, 'frontend/blog')),
      env,
      Buffer.from('{"token":"this server runs another attestor"}'),
    ),
  ],

  // ---- Configure -------------------------------------------------------------------------------
  'server azure_msi, azure_imds · invalid_configuration (no tenants)': async (env) => [
    await configureRefusal(env, 'msi', 'server', 'tenants = {}'),
    await configureRefusal(env, 'imds', 'server', ''),
  ],
  'server azure_msi · invalid_configuration (tenant ID)': async (env) => [
    await configureRefusal(env, 'msi', 'server', 'tenants = { "contoso.onmicrosoft.com" = {} }'),
  ],
  'server azure_msi · invalid_configuration (incomplete credentials)': async (env) => [
    await configureRefusal(
      env,
      'msi',
      'server',
      `tenants = { "${tid(env)}" = { app_id = "${OTHER_GUID}" app_secret = "s3cret" } }`,
    ),
  ],
  'server azure_msi, azure_imds · invalid_configuration (unknown cloud)': async (env) => [
    await configureRefusal(
      env,
      'msi',
      'server',
      `cloud_environment = "AzureStackCloud"\ntenants = { "${tid(env)}" = {} }`,
    ),
    await configureRefusal(
      env,
      'imds',
      'server',
      `cloud_environment = "AzureStackCloud"\ntenants = { "${CONTOSO_DOMAIN}" = {} }`,
    ),
  ],
  'server azure_msi, azure_imds · invalid_configuration (retired cloud)': async (env) => [
    await configureRefusal(
      env,
      'msi',
      'server',
      `cloud_environment = "AzureGermanCloud"\ntenants = { "${tid(env)}" = {} }`,
    ),
    await configureRefusal(
      env,
      'imds',
      'server',
      `cloud_environment = "AzureGermanCloud"\ntenants = { "${CONTOSO_DOMAIN}" = {} }`,
    ),
  ],
  'server azure_msi, azure_imds · invalid_configuration (agent path template)': async (env) => [
    await configureRefusal(
      env,
      'msi',
      'server',
      `tenants = { "${tid(env)}" = {} }\nagent_path_template = "/{{ .TenantID }"`,
    ),
    await configureRefusal(
      env,
      'imds',
      'server',
      `tenants = { "${CONTOSO_DOMAIN}" = {} }\nagent_path_template = "/{{ .TenantID }"`,
    ),
  ],
  'server azure_imds · invalid_configuration (tenant key)': async (env) => [
    await configureRefusal(env, 'imds', 'server', 'tenants = { "contoso" = {} }'),
  ],
  'server azure_imds · invalid_configuration (two credentials)': async (env) => [
    await configureRefusal(
      env,
      'imds',
      'server',
      `tenants = { "${CONTOSO_DOMAIN}" = {
  secret_auth = { app_id = "${OTHER_GUID}" app_secret = "s3cret" }
  token_auth = { app_id = "${OTHER_GUID}" token_path = "/var/run/secrets/azure/tokens/azure-identity-token" }
} }`,
    ),
  ],
  'agent azure_imds · invalid_configuration (tenant_domain)': async (env) => [
    await configureRefusal(env, 'imds', 'agent', ''),
  ],
  'agent azure_msi · invalid_configuration (client_id)': async (env) => [
    await configureRefusal(env, 'msi', 'agent', 'client_id = "spire-agent-identity"'),
  ],
  'agent azure_msi · invalid_configuration (several identities)': async (env) => [
    await configureRefusal(
      env,
      'msi',
      'agent',
      `client_id = "${OTHER_GUID}"\nobject_id = "${OTHER_GUID}"`,
    ),
  ],
}
