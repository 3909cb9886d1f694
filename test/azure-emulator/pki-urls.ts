/** AIA bases shaped like Azure's (azure-facts §3.1, §4.3): allow-listed hosts and paths. */
export const MS_CERTS = 'http://www.microsoft.com/pkiops/certs/'
export const MS_CAISSUERS = 'http://caissuers.microsoft.com/pkiops/certs/'
export const DIGICERT = 'http://cacerts.digicert.com/'
export const DIGICERT_CN = 'http://cacerts.digicert.cn/'
export const OCSP_URL = 'http://oneocsp.microsoft.com/ocsp'

export function crtUrl(base: string, name: string): string {
  return `${base}${encodeURIComponent(name)}.crt`
}
