// Fuzzing agent_path_template: Go text/template parse and execution with both attestors' data,
// and the SPIFFE path check of what it renders (issue #14).
import { fuzzTest } from '../../../support/fuzz.js'

fuzzTest('agent-path', 1000)
