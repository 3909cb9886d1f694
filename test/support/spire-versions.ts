/**
 * The SPIRE releases the compatibility matrix (test/e2e/matrix.test.ts) runs against, real binaries
 * built by scripts/install-spire.sh from the Go module proxy. Adding a version is one line here;
 * docs/compatibility.md is regenerated from the run (npm run compatibility).
 */
export interface SpireRelease {
  version: string
  /** Said in every cell of this version in docs/compatibility.md. */
  note?: string
  /**
   * When this release's built-in azure_imds server refuses the emulator's documents even in its
   * test-roots build: the refusal (a RegExp source) expected both for our agent and for upstream's
   * own, and why. Such cells are recorded as `limited`, with the reason.
   */
  imdsServerRefusal?: { refusal: string; reason: string }
}

export const TESTED_SPIRE_VERSIONS: readonly SpireRelease[] = [
  { version: '1.15.3' },
  {
    version: '1.14.5',
    note: 'its built-in azure_imds server predates upstream’s signer-confusion fix (1.14.7 / 1.15.1: it takes the first certificate of the PKCS#7 bag as the signer instead of the one that signed): interoperable, but not a server to recommend',
    imdsServerRefusal: {
      refusal:
        'InvalidArgument desc = nodeattestor\\(azure_imds\\): failed to validate attested document: azure certificate validation failed: signing certificate issuer validation failed: certificate issuer "[^"]+" does not match expected pattern',
      reason:
        'besides its roots, v1.14.5’s built-in server pins the signer’s issuer name (`^Microsoft Azure RSA TLS Issuing CA \\d{2}$`, and the intermediate’s issuer `^DigiCert Global Root G2$`: doc_validation.go, validateAzureCertificates), which the test-roots patch does not reach; the emulator’s CAs are named “Fake …” and model today’s public-cloud chain (`Microsoft TLS G2 RSA CA OCSP 02`, since 2026-05; docs/reference/azure-facts.md §3.1), which v1.14.5 refuses from real Azure too. Tried: the test-roots build. Our agent’s payload gets through decoding, the AIA fetch from www.microsoft.com and the PKCS#7 signature check and is refused at that name check with exactly the error upstream’s own agent gets (control row)',
    },
  },
]

/**
 * Releases that cannot be tested, and why (shown in docs/compatibility.md). Checked on 2026-12-02 with
 * `go mod download -json github.com/spiffe/spire@v1.16.0`: the proxy serves the version's .info and
 * .mod but refuses its source.
 */
export const UNTESTABLE_SPIRE_VERSIONS: readonly { version: string; why: string }[] = [
  {
    version: '1.16.0',
    why: 'listed by the Go module proxy, but its source is refused: `reading https://proxy.golang.org/github.com/spiffe/spire/@v/v1.16.0.zip: 403 Forbidden — server response: This module version is not available.`',
  },
]
