// Which wire a try takes: HTTP/2 streams for services declared `protocol: http2` or `grpc`, and for any gRPC call
// (gRPC needs HTTP/2 end to end: trailers, full-duplex streams); the HTTP/1.1 pools otherwise.
import { isGrpcRequest } from '../http/grpc-status.js';
import type { Upstream } from './upstream.js';

export function byProtocol(http1: Upstream, http2: Upstream): Upstream {
  return (x) => {
    const protocol = x.snapshot?.services.get(x.service)?.protocol;
    if (protocol === 'http2' || protocol === 'grpc' || isGrpcRequest(x.req)) return http2(x);
    return http1(x);
  };
}
