// The function set upstream SPIRE gives agent path templates: Go's builtins plus exactly the Sprig
// functions in pkg/common/agentpathtemplate/template.go's funcList.

import type { FuncDef, FuncMap } from './funcs.js'
import { SPRIG_DICT_FUNCS } from './sprig-dicts.js'
import { SPRIG_ENCODING_FUNCS } from './sprig-encoding.js'
import { SPRIG_LIST_FUNCS } from './sprig-lists.js'
import { SPRIG_REGEX_FUNCS } from './sprig-regex.js'
import { SPRIG_STRING_FUNCS } from './sprig-strings.js'
import { SPRIG_URL_FUNCS } from './sprig-url.js'

/** upstream parity: funcList of spiffe/spire v1.15.3 pkg/common/agentpathtemplate, in source order. */
export const UPSTREAM_SPRIG_FUNC_NAMES: readonly string[] = `
  abbrev abbrevboth trunc trim upper lower title untitle substr repeat trimAll trimSuffix trimPrefix nospace
  initials swapcase snakecase camelcase kebabcase wrap wrapWith contains hasPrefix hasSuffix quote squote cat
  indent nindent replace plural sha1sum sha256sum adler32sum toString seq splitList toStrings join sortAlpha
  default empty coalesce all any compact mustCompact ternary base dir clean ext isAbs b64enc b64dec b32enc
  b32dec tuple list dict get set unset hasKey pluck keys pick omit merge mergeOverwrite mustMerge
  mustMergeOverwrite values append push mustAppend mustPush prepend mustPrepend first mustFirst rest mustRest
  last mustLast initial mustInitial reverse mustReverse uniq mustUniq without mustWithout has mustHas slice
  mustSlice concat dig chunk mustChunk uuidv4 fail regexMatch mustRegexMatch regexFindAll mustRegexFindAll
  regexFind mustRegexFind regexReplaceAll mustRegexReplaceAll regexReplaceAllLiteral
  mustRegexReplaceAllLiteral regexSplit mustRegexSplit regexQuoteMeta urlParse urlJoin`
  .trim()
  .split(/\s+/)

/**
 * deviation: `uuidv4` is left out. It makes every attestation produce a new agent ID, which defeats
 * TOFU; a template that uses it fails to parse with `function "uuidv4" not defined`
 * (docs/agent-path-template.md).
 */
export const OMITTED_SPRIG_FUNCS: readonly string[] = ['uuidv4']

const ALL_SPRIG: FuncMap = {
  ...SPRIG_STRING_FUNCS,
  ...SPRIG_LIST_FUNCS,
  ...SPRIG_DICT_FUNCS,
  ...SPRIG_ENCODING_FUNCS,
  ...SPRIG_REGEX_FUNCS,
  ...SPRIG_URL_FUNCS,
}

function pick(names: readonly string[]): FuncMap {
  const out: Record<string, FuncDef> = {}
  for (const name of names) {
    if (OMITTED_SPRIG_FUNCS.includes(name)) continue
    const def = Object.hasOwn(ALL_SPRIG, name) ? ALL_SPRIG[name] : undefined
    if (def === undefined) throw new Error(`sprig function ${name} is not implemented`)
    out[name] = def
  }
  return out
}

/** Upstream's Sprig allow-list (minus OMITTED_SPRIG_FUNCS); `slice` replaces Go's builtin slice. */
export const AGENT_PATH_FUNCS: FuncMap = pick(UPSTREAM_SPRIG_FUNC_NAMES)
