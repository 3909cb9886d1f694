// Fuzzing the azure_msi attestation payload decoder (issue #14).
import { fuzzTest } from '../../support/fuzz.js'

fuzzTest('msi-payload', 2000)
