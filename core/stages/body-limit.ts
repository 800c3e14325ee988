// transformRequest phase (edge, and the sidecar inbound for callers that do not come through the edge): the
// route's maxBodySize. A declared Content-Length over the limit is refused
// before anything is forwarded; a chunked body is counted while it streams and the upstream call is aborted
// with 413 the moment it crosses the limit (the client gets 413 + close when no response has started yet).
import { Transform, type TransformCallback } from 'node:stream';
import { MeshError } from '../errors.js';
import type { StageDef } from '../pipeline/stage.js';
import { bodyKind } from '../http/request-body.js';
import { streamedBodies } from '../upstream/pool.js';

class ByteLimit extends Transform {
  private seen = 0;
  constructor(
    private readonly limit: number,
    private readonly error: MeshError,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    // A MeshError fails the upstream call as-is (upstreamError passes it through): the client gets 413, not 502.
    if (this.seen > this.limit) done(this.error as unknown as Error);
    else done(null, chunk);
  }
}

export const bodyLimit: StageDef<unknown> = {
  name: 'body-limit',
  phase: 'transformRequest',
  build({ route }) {
    const limit = route?.maxBodySize;
    if (limit === undefined) return undefined;
    const tooLarge = new MeshError('payload_too_large', `The request body exceeds this route's limit of ${limit} bytes.`);
    return {
      name: 'body-limit',
      request(x) {
        const req = x.req;
        const declared = req.headers['content-length'];
        if (declared !== undefined) return Number(declared) > limit ? tooLarge : undefined;
        // No Content-Length: a chunked HTTP/1.1 body, or HTTP/2 DATA without either, is counted as it streams.
        if (bodyKind(req) === 'none' || req.readableEnded) return undefined;
        const counted = new ByteLimit(limit, tooLarge);
        req.pipe(counted);
        counted.once('error', () => {
          // Keep reading what the client still sends, so the 413 is not lost to a reset; the socket closes after it.
          req.unpipe(counted);
          req.resume();
        });
        streamedBodies.set(x, counted);
        return undefined;
      },
    };
  },
};
