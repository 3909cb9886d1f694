// Fuzzing the azure_msi JWT path end to end: payload, parseMsiToken, the signature (tokens are
// really signed, so the claim checks are reached), claims, issuer and ARM resolution (issue #14).
import { fuzzTest } from '../../support/fuzz.js'

fuzzTest('jwt', 800)
