import { EKU_ANY, EKU_SERVER_AUTH, type Cert } from './certificate.js'
import { documentError } from './document.js'

/**
 * upstream parity: a SAN dNSName equal to an allowed domain or under it (`.` + domain); the CN is
 * never consulted, so `metadata.azure.com.attacker.com` and `attackermetadata.azure.com` fail.
 * DNS names compare case-insensitively.
 */
export function checkSignerDomain(signer: Cert, allowedDomains: readonly string[]): void {
  const domains = allowedDomains.map((d) => d.toLowerCase())
  const ok = signer.dnsNames.some((name) => {
    const n = name.toLowerCase()
    return domains.some((d) => n === d || n.endsWith(`.${d}`))
  })
  if (!ok) {
    throw documentError(
      'san_not_allowed',
      `signing certificate validation failed: certificate does not have any valid domain in SAN (found SANs=[${signer.dnsNames.join(' ')}], allowed domains=[${allowedDomains.join(' ')}])`,
    )
  }
}

/**
 * The signer must be a TLS server certificate and no CA: upstream's x509.Verify requires the
 * serverAuth EKU; a leaf without the extension is refused here too, since every IMDS leaf carries it.
 * deviation: a KeyUsage extension, when present, must allow digitalSignature (RFC 5280 §4.2.1.3:
 * the key signs the document); Go's x509.Verify never reads a leaf's KeyUsage. Every IMDS leaf
 * carries digitalSignature; a leaf without the extension allows every use, as RFC 5280 says.
 */
export function checkSignerUsage(signer: Cert): void {
  const eku = signer.extKeyUsage ?? []
  if (!eku.includes(EKU_SERVER_AUTH) && !eku.includes(EKU_ANY)) {
    throw documentError(
      'eku_not_server_auth',
      'signing certificate validation failed: certificate is not valid for server authentication (EKU serverAuth missing)',
    )
  }
  if (signer.isCa) {
    throw documentError(
      'signer_is_ca',
      'signing certificate validation failed: certificate is a CA certificate',
    )
  }
  if (signer.digitalSignature === false) {
    throw documentError(
      'signer_key_usage',
      'signing certificate validation failed: certificate key usage does not allow digital signatures',
    )
  }
}
