import type { IssuedCert } from './cert-builder.js'
import { json } from './http-kit.js'
import type { Service } from './http-kit.js'

/**
 * The certificate issuers behind AIA URLs (www.microsoft.com, caissuers.microsoft.com,
 * cacerts.digicert.com, …): DER for `.crt`, PEM for `.crt.pem`. Requests are matched on host and
 * path when the host is a real issuer name (the box), otherwise on the path alone.
 */
export function createIssuersService(published: ReadonlyMap<string, IssuedCert>): Service {
  const byPath = new Map<string, IssuedCert>()
  const byUrl = new Map<string, IssuedCert>()
  for (const [url, cert] of published) {
    const u = new URL(url)
    byPath.set(u.pathname, cert)
    byUrl.set(`${u.hostname}${u.pathname}`, cert)
  }
  return {
    name: 'issuers',
    match(method, url, ctx) {
      if (method !== 'GET' && method !== 'HEAD') return undefined
      const pem = url.pathname.endsWith('.crt.pem')
      const path = pem ? url.pathname.slice(0, -'.pem'.length) : url.pathname
      const realHost = !/^[0-9.]+$|^localhost$|^\[/.test(ctx.host)
      const cert = realHost ? byUrl.get(`${ctx.host}${path}`) : byPath.get(path)
      if (!cert) return undefined
      return {
        route: 'issuers.certificate',
        handle: () =>
          pem
            ? { status: 200, headers: { 'content-type': 'application/x-pem-file' }, body: cert.pem }
            : { status: 200, headers: { 'content-type': 'application/pkix-cert' }, body: cert.der },
      }
    },
    notFound: () => ({
      status: 404,
      headers: { 'content-type': 'text/html' },
      body: '<h2>404 - File or directory not found.</h2>',
    }),
    errorReply: (status) => json(status, { error: `issuers emulator injected status ${status}` }),
  }
}
