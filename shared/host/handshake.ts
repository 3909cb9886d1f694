/** A handshake line as go-plugin v1.8.0's client accepts it (client.go). */
export interface Handshake {
  coreVersion: number
  appVersion: number
  network: 'unix' | 'tcp'
  address: string
  protocol: 'grpc'
}

/** Our app protocol versions, as SPIRE's HandshakeConfig offers them. */
export const CLIENT_APP_VERSIONS = [1]

export class HandshakeError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'HandshakeError'
  }
}

/**
 * Parses the plugin's first stdout line with go-plugin's rules and messages, plus SPIRE's: only grpc,
 * and a server certificate (which would make SPIRE dereference a nil TLS config) is refused.
 */
export function parseHandshakeLine(rawLine: string): Handshake {
  const line = rawLine.trim()
  const parts = line.split('|')
  if (parts.length < 4) {
    throw new HandshakeError(
      `Unrecognized remote plugin message: ${line}\nThis usually means\n  the plugin was not compiled for this architecture,\n  the plugin is missing dynamic-link libraries necessary to run,\n  the plugin is not executable by this process due to file permissions, or\n  the plugin failed to negotiate the initial go-plugin protocol handshake`,
    )
  }
  const [core, app, network, address, protocol, cert] = parts as [
    string,
    string,
    string,
    string,
    string | undefined,
    string | undefined,
  ]
  const coreVersion = Number.parseInt(core, 10)
  if (String(coreVersion) !== core || coreVersion !== 1) {
    throw new HandshakeError(
      `incompatible core API version with plugin. Plugin version: ${core}, Core version: 1`,
    )
  }
  if (!/^-?\d+$/.test(app)) {
    throw new HandshakeError(
      `Error parsing protocol version: strconv.Atoi: parsing ${JSON.stringify(app)}: invalid syntax`,
    )
  }
  const appVersion = Number(app)
  if (!CLIENT_APP_VERSIONS.includes(appVersion)) {
    throw new HandshakeError(
      `incompatible API version with plugin. Plugin version: ${app}, Client versions: [${CLIENT_APP_VERSIONS.join(' ')}]`,
    )
  }
  if (network !== 'unix' && network !== 'tcp') throw new HandshakeError('unknown address type')
  if (network === 'unix' && !address.startsWith('/')) {
    // go-plugin resolves it relative to the host's cwd; the dial then fails (`broker closed` in SPIRE)
    throw new HandshakeError(`unix socket address must be an absolute path: ${address}`)
  }
  const proto = protocol === undefined || protocol === '' ? 'netrpc' : protocol
  if (proto !== 'grpc') {
    throw new HandshakeError(
      `unsupported plugin protocol ${JSON.stringify(proto)}. Supported: [grpc]`,
    )
  }
  if (cert !== undefined && cert.length > 50) {
    throw new HandshakeError(
      'plugin advertised a server certificate; SPIRE runs without AutoMTLS and would panic',
    )
  }
  if (parts.length > 6) {
    throw new HandshakeError('plugin advertised a multiplex field the host never asked for')
  }
  return { coreVersion, appVersion, network, address, protocol: 'grpc' }
}
