// HCL v1 configuration layer: parse SPIRE's `hcl_configuration`, then decode it against a schema.
import { DECODE_ERROR_PREFIX, decodeConfig } from './decode.js'
import type { Problems } from './decode.js'
import { HclSyntaxError } from './errors.js'
import { parseHcl } from './parse.js'
import type { Fields, InferFields, ObjectSchema } from './schema.js'

export { HclSyntaxError } from './errors.js'
export type { HclErrorReason } from './errors.js'
export { MAX_INPUT_BYTES, MAX_NESTING_DEPTH, parseHcl } from './parse.js'
export type { ParseOptions } from './parse.js'
export { literalText } from './tree.js'
export type { HclObject, HclScalar, HclValue } from './tree.js'
export { h } from './schema.js'
export type {
  BoolSchema,
  Fields,
  Infer,
  InferFields,
  IntSchema,
  ListSchema,
  MapSchema,
  NumberSchema,
  ObjectSchema,
  RequiredSchema,
  Schema,
  StringSchema,
} from './schema.js'
export { DECODE_ERROR_PREFIX, decodeConfig } from './decode.js'
export type { KeyPath, Problems } from './decode.js'

/**
 * Parses and decodes in one step, as a plugin's buildConfig does. A syntax error becomes the
 * problem `unable to decode configuration: <message>` (upstream's wording) and undefined.
 */
export function parseAndDecode<F extends Fields>(
  text: string,
  schema: ObjectSchema<F>,
  problems: Problems,
): InferFields<F> | undefined {
  let tree
  try {
    tree = parseHcl(text)
  } catch (err) {
    if (!(err instanceof HclSyntaxError)) throw err
    // a syntax error is about the text as a whole: no key path
    problems.error(DECODE_ERROR_PREFIX + err.message)
    return undefined
  }
  return decodeConfig<F>(tree, schema, problems)
}
