import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

/** go-plugin's message for a plugin run by hand (server.go), kept verbatim. */
export const NOT_A_PROGRAM_MESSAGE =
  'This binary is a plugin. These are not meant to be executed directly.\n' +
  'Please execute the program that consumes these plugins, which will\n' +
  'load any plugins automatically\n'

/** The app protocol version SPIRE speaks (HandshakeConfig.ProtocolVersion). */
export const APP_PROTOCOL_VERSION = 1
/** `sun_path` is 108 bytes on Linux and 104 on macOS, terminator included. */
export const MAX_SOCKET_PATH_BYTES = 103

export type Env = Readonly<Record<string, string | undefined>>

/** SPIRE's magic cookie: key and value are both the plugin type, e.g. `NodeAttestor=NodeAttestor`. */
export function hasMagicCookie(env: Env, pluginType: string): boolean {
  return env[pluginType] === pluginType
}

export interface ProtocolChoice {
  version: number
  /** Set when the host's list is malformed or lacks our version; go-plugin still answers and lets the host reject. */
  warning?: string
}

/** Picks the app protocol version from PLUGIN_PROTOCOL_VERSIONS as go-plugin's server does. */
export function negotiateProtocol(env: Env): ProtocolChoice {
  const raw = env.PLUGIN_PROTOCOL_VERSIONS
  if (raw === undefined || raw.trim() === '') return { version: APP_PROTOCOL_VERSION }
  const offered = raw.split(',').map((v) => v.trim())
  if (offered.some((v) => !/^\d+$/.test(v))) {
    return {
      version: APP_PROTOCOL_VERSION,
      warning: `malformed PLUGIN_PROTOCOL_VERSIONS ${JSON.stringify(raw)}`,
    }
  }
  if (!offered.includes(String(APP_PROTOCOL_VERSION))) {
    return {
      version: APP_PROTOCOL_VERSION,
      warning: `host offers protocol versions ${raw}; this plugin speaks ${APP_PROTOCOL_VERSION}`,
    }
  }
  return { version: APP_PROTOCOL_VERSION }
}

/** The one stdout line: `1|1|unix|<bare absolute path>|grpc|`. Never a cert, never a multiplex field. */
export function formatHandshake(version: number, socketPath: string): string {
  return `1|${version}|unix|${socketPath}|grpc|\n`
}

export interface SocketPlace {
  dir: string
  path: string
}

/** mkdtemp(<PLUGIN_UNIX_SOCKET_DIR || tmpdir>/plugin) + /plugin.sock, checked against sun_path. */
export function createSocketPlace(env: Env): SocketPlace {
  const base = resolve(env.PLUGIN_UNIX_SOCKET_DIR || env.TMPDIR || tmpdir())
  const dir = mkdtempSync(join(base, 'plugin'))
  const path = join(dir, 'plugin.sock')
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(
      `socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; set PLUGIN_UNIX_SOCKET_DIR or TMPDIR to a shorter directory`,
    )
  }
  return { dir, path }
}

/** PLUGIN_UNIX_SOCKET_GROUP: chgrp the socket (group name or id) and make it 0660, as go-plugin does. */
export function applySocketGroup(path: string, group: string): void {
  const gid = /^\d+$/.test(group) ? Number(group) : lookupGroupId(group)
  if (gid === undefined)
    throw new Error(`PLUGIN_UNIX_SOCKET_GROUP: unknown group ${JSON.stringify(group)}`)
  chownSync(path, -1, gid)
  chmodSync(path, 0o660)
}

function lookupGroupId(name: string): number | undefined {
  let text: string
  try {
    text = readFileSync('/etc/group', 'utf8')
  } catch {
    return undefined
  }
  for (const line of text.split('\n')) {
    const [groupName, , gid] = line.split(':')
    if (groupName === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid)
  }
  return undefined
}
