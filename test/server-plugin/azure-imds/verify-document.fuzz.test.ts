// Fuzzing document verification end to end on the server's path: the agent's challenge response,
// its PKCS#7 document, the chain to the pinned roots (AIA from memory) and the content (issue #14).
import { fuzzTest } from '../../support/fuzz.js'

fuzzTest('verify-document', 300)
