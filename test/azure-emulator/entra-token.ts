import { decodeJwt } from 'jose'
import type { EntraDeps } from './entra.js'
import { entraError } from './entra-error.js'
import { checkFederatedAssertion } from './entra-federation.js'
import { json } from './http-kit.js'
import type { Reply, RequestContext } from './http-kit.js'
import { APP_TOKEN_LIFETIME_S, issueAppToken } from './tokens.js'
import type { Tenant } from './world-types.js'

const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** Client-credentials grant (v1 `resource` or v2 `scope`), as `@azure/identity` and Go's azidentity send it. */
export async function handleTokenRequest(
  deps: EntraDeps,
  ctx: RequestContext,
  tenant: Tenant,
  v2: boolean,
): Promise<Reply> {
  const form = new URLSearchParams((await ctx.body()).toString('utf8'))
  const basic = parseBasic(ctx.req.headers.authorization)
  const grant = form.get('grant_type')
  if (grant !== 'client_credentials') {
    return entraError(
      400,
      'unsupported_grant_type',
      70003,
      `The app requested an unsupported grant type '${grant ?? ''}'.`,
    )
  }
  const clientId = form.get('client_id') ?? basic?.id
  if (!clientId)
    return entraError(
      400,
      'invalid_request',
      900144,
      "The request body must contain the following parameter: 'client_id'.",
    )
  const app = deps.world.findApp(tenant, clientId)
  if (!app) {
    return entraError(
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenant.tenantId}'.`,
    )
  }
  const secret = form.get('client_secret') ?? basic?.secret
  const assertion = form.get('client_assertion')
  if (assertion !== null) {
    if (form.get('client_assertion_type') !== CLIENT_ASSERTION_TYPE) return assertionRefused()
    if (deps.federation.credentials(app).length > 0) {
      // Workload identity federation: every assertion must satisfy one of the app's credentials.
      const refusal = await checkFederatedAssertion(deps.federation, app, assertion, deps.now())
      if (refusal) return refusal
    } else if (!assertionNames(assertion, app.clientId)) {
      // deviation: certificate assertions are checked for shape and subject only; the emulator keeps no app certificates
      return assertionRefused()
    }
  } else if (secret !== app.secret) {
    return entraError(
      401,
      'invalid_client',
      7000215,
      'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
    )
  }
  const resource = v2 ? resourceFromScope(form.get('scope')) : form.get('resource')
  if (!resource) {
    return entraError(
      400,
      'invalid_request',
      90014,
      `The required field '${v2 ? 'scope' : 'resource'}' is missing from the credential.`,
    )
  }
  const issued = await issueAppToken(deps.keys, app, resource, deps.now())
  if (v2) {
    return json(200, {
      token_type: 'Bearer',
      expires_in: APP_TOKEN_LIFETIME_S,
      ext_expires_in: APP_TOKEN_LIFETIME_S,
      access_token: issued.token,
    })
  }
  return json(200, {
    token_type: 'Bearer',
    expires_in: String(APP_TOKEN_LIFETIME_S),
    ext_expires_in: String(APP_TOKEN_LIFETIME_S),
    expires_on: String(issued.expiresOn),
    not_before: String(issued.notBefore),
    resource,
    access_token: issued.token,
  })
}

/** `https://management.azure.com/.default` → `https://management.azure.com/` (the v1 resource). */
/**
 * Entra maps `<resource>/.default` to the resource: `https://management.azure.com/.default` gives
 * `https://management.azure.com`, and Go azidentity's `https://management.core.windows.net//.default`
 * gives `https://management.core.windows.net/`.
 */
function resourceFromScope(scope: string | null): string | undefined {
  const first = scope?.split(' ').find((s) => s.endsWith('/.default'))
  const resource = first?.slice(0, -'/.default'.length)
  return resource === '' ? undefined : resource
}

function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  if (!header?.startsWith('Basic ')) return undefined
  const [id, secret] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':', 2)
  return id && secret !== undefined
    ? { id: decodeURIComponent(id), secret: decodeURIComponent(secret) }
    : undefined
}

const assertionRefused = () =>
  entraError(401, 'invalid_client', 700027, 'Client assertion failed signature validation.')

function assertionNames(assertion: string, clientId: string): boolean {
  try {
    const claims = decodeJwt(assertion)
    return claims.sub === clientId || claims.iss === clientId
  } catch {
    return false
  }
}
