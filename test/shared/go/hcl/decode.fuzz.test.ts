// Fuzzing the HCL v1 parser (native syntax and JSON mode) and every plugin's buildConfig, which is
// how plugin_data is decoded (issue #14). Seeded and bounded; the long run is `npm run bench -- fuzz`.
import { fuzzTest } from '../../../support/fuzz.js'

fuzzTest('hcl-native', 800)
fuzzTest('hcl-json', 600)
