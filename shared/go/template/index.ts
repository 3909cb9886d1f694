// Go text/template (with upstream SPIRE's Sprig allow-list) for agent_path_template.

export {
  FuncError,
  LimitError,
  SpiffeIdError,
  TemplateError,
  type TemplateErrorPhase,
} from './errors.js'
export type { MissingKey } from './eval.js'
export {
  type Arg,
  type FuncContext,
  type FuncDef,
  type FuncMap,
  type GoType,
  Iface,
} from './funcs.js'
export {
  DEFAULT_TEMPLATE_LIMITS,
  type ParseTemplateOptions,
  type Template,
  type TemplateLimits,
  parseTemplate,
} from './template.js'
export { GoNil, GoStruct, GoTypedInt, type GoValue, goStruct } from './values.js'
export { AGENT_PATH_FUNCS, OMITTED_SPRIG_FUNCS, UPSTREAM_SPRIG_FUNC_NAMES } from './sprig.js'
export {
  AGENT_PATH_TEMPLATE_NAME,
  type AgentPathTemplate,
  MAX_AGENT_PATH_BYTES,
  buildAgentId,
  buildAgentPath,
  parseAgentPathTemplate,
  validateSpiffePath,
} from './agent-path.js'
