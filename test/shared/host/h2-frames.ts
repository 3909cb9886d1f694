import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * A unix-socket proxy in front of a plugin that records the HTTP/2 frame headers going each way, so
 * tests can count what a host sent (RST_STREAM, END_STREAM...) and what the plugin answered (GOAWAY).
 */
export interface Frame {
  type: FrameType
  flags: number
  stream: number
  /** RST_STREAM's and GOAWAY's error code. */
  code?: number
}

export type FrameType =
  | 'DATA'
  | 'HEADERS'
  | 'PRIORITY'
  | 'RST_STREAM'
  | 'SETTINGS'
  | 'PUSH_PROMISE'
  | 'PING'
  | 'GOAWAY'
  | 'WINDOW_UPDATE'
  | 'CONTINUATION'
  | 'UNKNOWN'

const TYPES: FrameType[] = [
  'DATA',
  'HEADERS',
  'PRIORITY',
  'RST_STREAM',
  'SETTINGS',
  'PUSH_PROMISE',
  'PING',
  'GOAWAY',
  'WINDOW_UPDATE',
  'CONTINUATION',
]
export const END_STREAM = 0x1
const CLIENT_PREFACE_BYTES = 24

export interface FrameProxy {
  /** Where a host connects instead of the plugin's socket. */
  address: string
  fromHost: Frame[]
  fromPlugin: Frame[]
  /** Resolves once `cond` holds, checked as frames arrive. */
  until(cond: () => boolean): Promise<void>
  close(): Promise<void>
}

export async function frameProxy(target: string): Promise<FrameProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'h2-frames-'))
  const address = join(dir, 'proxy.sock')
  const fromHost: Frame[] = []
  const fromPlugin: Frame[] = []
  const sockets = new Set<Socket>()
  const waiters = new Set<() => void>()
  const recorded = (): void => {
    for (const check of [...waiters]) check()
  }
  const server = createServer((host) => {
    const plugin = connect(target)
    for (const s of [host, plugin]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }
    const up = reader(fromHost, CLIENT_PREFACE_BYTES)
    const down = reader(fromPlugin, 0)
    host.on('data', (d: Buffer) => {
      up(d)
      recorded()
      plugin.write(d)
    })
    plugin.on('data', (d: Buffer) => {
      down(d)
      recorded()
      host.write(d)
    })
    host.on('end', () => plugin.end())
    plugin.on('end', () => host.end())
    host.on('close', () => plugin.destroy())
    plugin.on('close', () => host.destroy())
  })
  await new Promise<void>((resolve) => server.listen(address, resolve))
  return {
    address,
    fromHost,
    fromPlugin,
    until: (cond) =>
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (!cond()) return
          waiters.delete(check)
          resolve()
        }
        waiters.add(check)
        check()
      }),
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function reader(out: Frame[], preface: number): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0)
  let skip = preface
  return (chunk) => {
    pending = Buffer.concat([pending, chunk])
    if (skip > 0) {
      const n = Math.min(skip, pending.length)
      pending = pending.subarray(n)
      skip -= n
    }
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3)
      if (pending.length < 9 + length) break
      const type = TYPES[pending[3]!] ?? 'UNKNOWN'
      const frame: Frame = {
        type,
        flags: pending[4]!,
        stream: pending.readUInt32BE(5) & 0x7fffffff,
      }
      if (type === 'RST_STREAM') frame.code = pending.readUInt32BE(9)
      if (type === 'GOAWAY') frame.code = pending.readUInt32BE(13)
      out.push(frame)
      pending = pending.subarray(9 + length)
    }
  }
}
