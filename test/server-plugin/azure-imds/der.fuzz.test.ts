// Fuzzing the DER reader of the attested document's envelope (issue #14).
import { fuzzTest } from '../../support/fuzz.js'

fuzzTest('der', 2000)
