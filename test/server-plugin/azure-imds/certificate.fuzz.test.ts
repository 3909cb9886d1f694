// Fuzzing the X.509 certificate parser (node:crypto + pkijs) and the leaf checks, from mutations of
// the real Azure roots, intermediates and IMDS leaves (issue #14).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import {
  CertificateParseError,
  parseCertificate,
} from '../../../server-plugin/azure-imds/certificate.js'
import { parseSignedDocument } from '../../../server-plugin/azure-imds/document.js'
import type { PluginError } from '../../../shared/plugin/index.js'
import { FUZZ_CORPUS_DIR, fuzzTest } from '../../support/fuzz.js'

fuzzTest('certificate', 600)

const corpus = (target: string, name: string): Buffer =>
  readFileSync(join(FUZZ_CORPUS_DIR, target, name))

test('fuzz finding: an extension pkijs cannot parse is a CertificateParseError, not a RangeError', () => {
  // a mutated intermediate whose extension holds a BMPString of odd length: pkijs parses extension
  // values lazily and threw RangeError from inside parseCertificate (seed 2)
  assert.throws(
    () => parseCertificate(corpus('certificate', 'finding-bmpstring-extension.der')),
    (err: Error) => {
      assert.ok(err instanceof CertificateParseError, `${err.name}: ${err.message}`)
      assert.match(err.message, /^extension [\d.]+: /)
      return true
    },
  )
})

test('fuzz finding: a certificate whose validity node cannot read is refused at parse', () => {
  // the real 2024 leaf with an empty notBefore UTCTime: node reports "Bad time value", the Cert
  // carried an Invalid Date and chain building threw RangeError from toISOString (seed 2)
  assert.throws(
    () => parseCertificate(corpus('certificate', 'finding-bad-time-value.der')),
    (err: Error) => {
      assert.ok(err instanceof CertificateParseError, `${err.name}: ${err.message}`)
      assert.match(err.message, /^unreadable validity: notBefore "Bad time value"/)
      return true
    },
  )
  // in a document, the same leaf makes the whole document malformed_pkcs7
  const payload = JSON.parse(
    corpus('verify-document', 'finding-bad-time-value.json').toString(),
  ) as {
    document: { encoding: string; signature: string }
  }
  assert.throws(
    () => parseSignedDocument(payload.document),
    (err: PluginError) =>
      err.reason === 'malformed_pkcs7' && /unreadable validity/.test(err.message),
  )
})

test('fuzz finding: a certificate with an empty subject parses (node gives no subject at all)', () => {
  // the 2019 IMDS leaf with its subject Name emptied, which X.509 allows beside a SAN: node's
  // X509Certificate.subject is undefined for it and parseCertificate threw TypeError (long run,
  // 13th chunk: seed 20261214)
  const cert = parseCertificate(corpus('certificate', 'finding-empty-subject.der'))
  assert.equal(cert.subject, '')
  assert.deepEqual(cert.dnsNames, ['westus.metadata.azure.com', 'metadata.azure.com'])
})
