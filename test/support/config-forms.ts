/**
 * The three forms a SPIRE server config can be written in, for tests that must prove each works:
 * SPIRE's HCL (what spireServerConf renders), SPIRE's JSON form, and HCL whose plugins read their data
 * from `plugin_data_file`. SPIRE v1.15.3 reads a config with HCL v1's `hcl.Decode`, which switches to
 * its JSON parser when the first non-space character is `{`; there `plugin_data` is a JSON object that
 * SPIRE re-prints as HCL for the plugin (pkg/common/catalog/config.go, `printer.DefaultConfig.Fprint`).
 * A `plugin_data_file` is read as is, at load and again on each SIGUSR1 (catalog.FileData is dynamic).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseHcl } from '../../shared/go/hcl/parse.js'

export type ConfigForm = 'hcl' | 'json' | 'plugin_data_file'

export const CONFIG_FORMS: readonly ConfigForm[] = ['hcl', 'json', 'plugin_data_file']

/**
 * SPIRE's JSON form of an HCL config: the same tree, decoded by the project's HCL v1 decoder (labels
 * become nested keys, `plugin_data` blocks become objects), printed as JSON. Only for configs whose
 * keys are not integer-like (JSON objects would reorder those) and with no list of objects (HCL v1's
 * JSON flattening turns one into repeated blocks).
 */
export function hclConfigToJson(hcl: string): string {
  return `${JSON.stringify(parseHcl(hcl), null, 2)}\n`
}

/**
 * Where the `plugin_data_file` form keeps the data of plugin `plugin` of the server config `name`:
 * beside the config (`<dir>/<name>.conf`, as startSpireServer writes it).
 */
export function pluginDataFilePath(dir: string, plugin: string, name = 'server'): string {
  return join(dir, `${name}.${plugin}.plugin_data`)
}

/** Writes a plugin's data (the text SPIRE hands the plugin as is) to its file; returns the path. */
export function writePluginDataFile(
  dir: string,
  plugin: string,
  data: string,
  name = 'server',
): string {
  const path = pluginDataFilePath(dir, plugin, name)
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, data)
  return path
}
