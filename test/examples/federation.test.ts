// Secretless Azure access with real SPIRE JWT-SVIDs: the demo's stack (spire-server with jwt_issuer and
// rsa-2048 JWT keys, SPIRE's oidc-discovery-provider, an azure_msi agent) and the emulated Entra's
// federated identity credential check — the success, and each refusal with Entra's AADSTS code.
import assert from 'node:assert/strict'
import { ClientAssertionCredential } from '@azure/identity'
import { generateKeyPair, SignJWT, decodeJwt, decodeProtectedHeader } from 'jose'
import { after, before, describe, test } from 'node:test'
import { Cleanup, runDemo, type DemoEnvironment } from '../../examples/demo/demo.js'
import {
  accessAzureWithSpiffe,
  ENTRA_FEDERATION_AUDIENCE,
} from '../../examples/federation/workload.js'
import { WorkloadApiClient } from '../../examples/federation/workload-api.js'
import { ensureSpire } from '../support/spire.js'

const spire = ensureSpire()
const skip = 'skip' in spire ? spire.skip : false

describe(
  'workload identity federation with real SPIRE JWT-SVIDs',
  { skip, timeout: 300_000 },
  () => {
    const cleanup = new Cleanup()
    let env: DemoEnvironment
    let socket = ''

    before(async () => {
      if ('skip' in spire) return
      const ran = await runDemo(cleanup, { spireBin: spire.bin })
      assert.ok(ran)
      env = ran.env
      socket = env.sockets.get('azure_msi')!
    })
    after(() => cleanup.run())

    const access = (overrides: { audience?: string } = {}) =>
      accessAzureWithSpiffe({
        socketPath: socket,
        tenantId: env.federation.tenantId,
        clientId: env.federation.clientId,
        subscriptionId: env.federation.subscriptionId,
        authorityHost: env.emu.endpoints.entra,
        resourceManager: env.emu.endpoints.arm,
        caPem: env.emu.endpoints.caCertPem,
        ...overrides,
      })

    /** A token request with an assertion the test builds from a real JWT-SVID. */
    const tokenWith = (assertion: () => Promise<string>) =>
      new ClientAssertionCredential(env.federation.tenantId, env.federation.clientId, assertion, {
        authorityHost: env.emu.endpoints.entra,
        disableInstanceDiscovery: true,
        tlsOptions: { ca: env.emu.endpoints.caCertPem },
      }).getToken('https://management.azure.com/.default')

    const jwtSvid = async (audience = ENTRA_FEDERATION_AUDIENCE): Promise<string> => {
      const client = new WorkloadApiClient(socket)
      try {
        return (await client.fetchJwtSvid(audience)).token
      } finally {
        client.close()
      }
    }

    /** Replaces the app's federated credentials for one test, restoring the demo's afterwards. */
    async function withCredential<T>(
      fic: { issuer?: string; subject?: string; audiences?: string[] },
      run: () => Promise<T>,
    ): Promise<T> {
      env.emu.entra.removeFederatedCredentials('blog-web', 'contoso')
      env.emu.entra.addFederatedCredential(
        'blog-web',
        {
          issuer: fic.issuer ?? env.issuer,
          subject: fic.subject ?? env.federation.subject,
          audiences: fic.audiences ?? [ENTRA_FEDERATION_AUDIENCE],
        },
        'contoso',
      )
      try {
        return await run()
      } finally {
        env.emu.entra.removeFederatedCredentials('blog-web', 'contoso')
        env.emu.entra.addFederatedCredential(
          'blog-web',
          {
            issuer: env.issuer,
            subject: env.federation.subject,
            audiences: [ENTRA_FEDERATION_AUDIENCE],
          },
          'contoso',
        )
      }
    }

    test('the JWT-SVID is what Entra needs: RS256, iss = the discovery issuer, sub = the SPIFFE ID', async () => {
      const token = await jwtSvid()
      assert.equal(decodeProtectedHeader(token).alg, 'RS256')
      const claims = decodeJwt(token)
      assert.equal(claims.iss, env.issuer)
      assert.equal(claims.sub, env.federation.subject)
      assert.deepEqual([claims.aud].flat(), [ENTRA_FEDERATION_AUDIENCE])
    })

    test('success: an Entra token from a fresh JWT-SVID, and a Resource Manager call with it', async () => {
      const r = await access()
      assert.equal(r.spiffeId, env.federation.subject)
      assert.equal(r.arm.status, 200)
      assert.equal(r.arm.subscriptionId, env.federation.subscriptionId)
    })

    test('no credential for this subject: AADSTS700213', async () => {
      await withCredential({ subject: 'spiffe://example.org/workload/someone-else' }, () =>
        assert.rejects(access(), /AADSTS700213/),
      )
    })

    test('a credential naming another issuer: AADSTS700211', async () => {
      await withCredential({ issuer: 'https://127.0.0.1:1/other-issuer' }, () =>
        assert.rejects(access(), /AADSTS700211/),
      )
    })

    test('a JWT-SVID for another audience: AADSTS700212', async () => {
      await assert.rejects(access({ audience: 'api://not-entra' }), /AADSTS700212/)
    })

    test('a bad signature: AADSTS700027', async () => {
      await assert.rejects(
        tokenWith(async () => {
          const [h, p, sig] = (await jwtSvid()).split('.')
          const flipped = Buffer.from(sig!, 'base64url')
          flipped[0] = flipped[0]! ^ 0xff
          return `${h}.${p}.${flipped.toString('base64url')}`
        }),
        /AADSTS700027/,
      )
    })

    test('a key SPIRE never published (same claims, another kid): AADSTS700027', async () => {
      const { privateKey } = await generateKeyPair('RS256')
      await assert.rejects(
        tokenWith(async () => {
          const claims = decodeJwt(await jwtSvid())
          return new SignJWT(claims)
            .setProtectedHeader({ alg: 'RS256', kid: 'not-a-spire-key', typ: 'JWT' })
            .sign(privateKey)
        }),
        /AADSTS700027/,
      )
    })

    test('a wrong algorithm (ES256): AADSTS5002738', async () => {
      const { privateKey } = await generateKeyPair('ES256')
      await assert.rejects(
        tokenWith(async () => {
          const claims = decodeJwt(await jwtSvid())
          const kid = decodeProtectedHeader(await jwtSvid()).kid ?? ''
          return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid }).sign(privateKey)
        }),
        /AADSTS5002738/,
      )
    })

    test('an expired assertion (Entra’s clock past the JWT-SVID’s exp): AADSTS700024', async () => {
      const token = await jwtSvid()
      const exp = decodeJwt(token).exp!
      env.emu.setClock(new Date((exp + 600) * 1000))
      try {
        await assert.rejects(
          tokenWith(async () => token),
          /AADSTS700024/,
        )
      } finally {
        env.emu.setClock(() => new Date())
      }
    })
  },
)
