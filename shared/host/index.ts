export {
  PluginProcess,
  SPIRE_HOST_SERVICES,
  START_TIMEOUT_MS,
  DEINIT_TIMEOUT_MS,
  EXIT_GRACE_MS,
} from './launcher.js'
export type {
  LaunchOptions,
  AgentAttributesResult,
  CloseResult,
  ExitInfo,
  Side,
} from './launcher.js'
export {
  serverAttest,
  AgentSession,
  attestAgentToServer,
  type AttestTarget,
  type ServerAttestOptions,
} from './attest.js'
export { GoStreamClient, GoBidiStream, type TransportCounts } from './go-stream.js'
export { HostCallError } from './calls.js'
export { parseHandshakeLine, HandshakeError, type Handshake } from './handshake.js'
export { parsePluginLogLine, type PluginLogEntry, type HostLogLevel } from './plugin-log.js'
export { InMemoryAgentStore, RecordingMetrics, type RecordedMetric } from './host-services.js'
