// Fuzzing the azure_imds challenge-response payload decoder (issue #14).
import { fuzzTest } from '../../support/fuzz.js'

fuzzTest('imds-payload', 2000)
