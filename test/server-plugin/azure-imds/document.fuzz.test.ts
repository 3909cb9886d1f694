// Fuzzing the PKCS#7 SignedData parse, the signer resolution and signature check, and the signed
// content's parse and checks, from mutations of real Azure documents (issue #14).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parseSignedDocument } from '../../../server-plugin/azure-imds/document.js'
import type { PluginError } from '../../../shared/plugin/index.js'
import { FUZZ_CORPUS_DIR, fuzzTest } from '../../support/fuzz.js'

fuzzTest('pkcs7', 600)

test('fuzz finding: a SignerInfo sid of malformed DER is malformed_pkcs7, not an escaping DerError', () => {
  // the 2019 document with the SignerInfo's IssuerAndSerialNumber mutated: the SEQUENCE's own
  // length is right, an element inside it runs past it (found with seed 1, 249th input)
  const der = readFileSync(join(FUZZ_CORPUS_DIR, 'pkcs7', 'finding-sid-malformed-der.der'))
  assert.throws(
    () => parseSignedDocument({ encoding: 'pkcs7', signature: der.toString('base64') }),
    (err: PluginError) => {
      assert.equal(err.name, 'PluginError')
      assert.equal(err.reason, 'malformed_pkcs7')
      assert.equal(
        err.message,
        'failed to validate attested document: failed to parse PKCS7 signature: element runs past its container',
      )
      return true
    },
  )
})
