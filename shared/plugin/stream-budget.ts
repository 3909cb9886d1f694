/*
 * Why the plugin retires its HTTP/2 connections. nghttp2 (Node 20's 1.61, Node 22's 1.69, Node 24's
 * 1.70) counts every RST_STREAM a server receives, for open and already closed streams alike, against
 * a token bucket of 1,000 refilled at 33 per second (its CVE-2023-44487 "rapid reset" guard); when the
 * bucket is empty it sends GOAWAY(INTERNAL_ERROR). SPIRE's grpc-go client resets every Attest stream
 * once (it never half-closes; RST_STREAM(CANCEL) at the result, or NO_ERROR after the trailers), so
 * a server attesting faster than 33/s meets that GOAWAY after about 1,000 attestations on a
 * connection. grpc-go survives it by reconnecting; a Node (grpc-js) host fails every stream in flight.
 * Node 20 has no option to tune the bucket (Node 22 added streamResetBurst/streamResetRate). What holds
 * on every Node: nghttp2 stops counting once
 * the server has submitted a GOAWAY of its own, so the runtime closes each connection gracefully —
 * GOAWAY(NO_ERROR), in-flight streams finish, the host opens a new connection — after a number of
 * streams well below the bucket, before it can run dry. The plugin's server (grpc-server.ts) applies
 * `retireAfter` to every connection it accepts.
 */

/** Streams a host connection carries before the plugin retires it; half of nghttp2's reset burst. */
export const STREAMS_PER_CONNECTION = 500

/** The part of an http2 server session this needs. */
export interface RetirableSession {
  on(event: 'stream', listener: () => void): unknown
  close(): void
}

/** Closes `session` gracefully (GOAWAY NO_ERROR, open streams finish) once it has carried `limit` streams. */
export function retireAfter(session: RetirableSession, limit = STREAMS_PER_CONNECTION): void {
  let streams = 0
  session.on('stream', () => {
    streams++
    if (streams === limit) session.close()
  })
}
