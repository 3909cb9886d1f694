export { serve, type ServeOptions } from './serve.js'
export { PluginError, isPluginError, errorMessage, type StatusName } from './errors.js'
export { Report } from './report.js'
export { systemClock, type Clock } from './clock.js'
export { deferredAttestor, serverAttestorDeps } from './types.js'
export { FAILURE_REASONS, isFailureReason, type FailureReason } from './reasons.js'
export {
  createHclogLogger,
  NOOP_LOGGER,
  type Logger,
  type LogFields,
  type LogLevel,
} from './logger.js'
export {
  assertNotAttested,
  NOOP_METRICS,
  unixNanos,
  type AgentStore,
  type Metrics,
  type MetricLabels,
} from './host-services.js'
export type {
  AgentAttestIo,
  AgentAttestor,
  AgentAttributes,
  AgentPluginDefinition,
  AttestIo,
  BuildConfig,
  CoreConfig,
  PluginContext,
  PluginDefinition,
  ServerAttestor,
  ServerAttestorDeps,
  ServerPluginDefinition,
} from './types.js'
