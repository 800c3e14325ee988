// A real @grpc/grpc-js server for mesh tests (test/support/proto/echo.proto): unary, server-, client- and
// bidi-streaming echo that sets initial and trailing metadata, fails on request with a status and trailing
// metadata, sleeps past deadlines on request, and reports what the mesh told it (identity, budget, deadline).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

export const ECHO_PROTO = fileURLToPath(new URL('./proto/echo.proto', import.meta.url));

export interface EchoRequest {
  text?: string;
  count?: number;
  sleepMs?: number;
  failCode?: number;
}

export interface EchoReply {
  text: string;
  index: number;
  authSubject: string;
  requestTimeoutMs: string;
  deadlineLeftMs: number;
}

/** The loaded meshtest package: `Echo` is a client constructor, `Echo.service` the service definition. */
export function loadEcho(): { Echo: grpc.ServiceClientConstructor } {
  const definition = loadSync(ECHO_PROTO, { keepCase: false, longs: Number, enums: String, defaults: true });
  return grpc.loadPackageDefinition(definition).meshtest as unknown as { Echo: grpc.ServiceClientConstructor };
}

export interface GrpcEchoApp {
  port: number;
  /** Calls that reached the app. */
  readonly started: number;
  /** Calls whose 'cancelled' event fired (the client, a deadline or the mesh cut them). */
  readonly cancelled: number;
  close(): Promise<void>;
}

function reply(call: grpc.ServerUnaryCall<EchoRequest, EchoReply> | grpc.ServerWritableStream<EchoRequest, EchoReply> | grpc.ServerReadableStream<EchoRequest, EchoReply> | grpc.ServerDuplexStream<EchoRequest, EchoReply>, text: string, index = 0): EchoReply {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return {
    text,
    index,
    authSubject: String(call.metadata.get('x-auth-subject')[0] ?? ''),
    requestTimeoutMs: String(call.metadata.get('x-request-timeout-ms')[0] ?? ''),
    deadlineLeftMs: Number.isFinite(at) ? Math.round(at - Date.now()) : -1,
  };
}

/** The status a `failCode` request ends with: a message and trailing metadata (text and binary). */
function failure(code: number, text: string): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set('x-why', `because ${text}`);
  metadata.set('x-detail-bin', Buffer.from([0, 1, 2, 255]));
  return { code, details: `refused: ${text}`, metadata };
}

function initialMetadata(): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set('x-app', 'echo');
  return m;
}

function trailer(): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set('x-trailer', 'done');
  return m;
}

export async function startGrpcEchoApp(): Promise<GrpcEchoApp> {
  const { Echo } = loadEcho();
  const server = new grpc.Server();
  let started = 0;
  let cancelled = 0;
  const watch = (call: { once(event: 'cancelled', listener: () => void): unknown }) => {
    started++;
    call.once('cancelled', () => cancelled++);
  };
  const sleep = (ms: number, call: { once(event: 'cancelled', listener: () => void): unknown }) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(true), ms);
      call.once('cancelled', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
  server.addService(Echo.service, {
    async Unary(call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) {
      watch(call);
      const req = call.request;
      if (req.sleepMs && !(await sleep(req.sleepMs, call))) return;
      // A failure before any metadata goes out is a trailers-only response.
      if (req.failCode) return callback(failure(req.failCode, req.text ?? ''));
      call.sendMetadata(initialMetadata());
      callback(null, reply(call, `echo: ${req.text}`), trailer());
    },
    async ServerStream(call: grpc.ServerWritableStream<EchoRequest, EchoReply>) {
      watch(call);
      const req = call.request;
      call.sendMetadata(initialMetadata());
      for (let i = 0; i < (req.count ?? 0); i++) {
        // With sleep_ms, a pause after each reply: a stream still open when its caller cancels.
        if (i > 0 && req.sleepMs && !(await sleep(req.sleepMs, call))) return;
        call.write(reply(call, `${req.text} #${i}`, i));
      }
      if (req.failCode) call.emit('error', failure(req.failCode, req.text ?? ''));
      else call.end(trailer());
    },
    ClientStream(call: grpc.ServerReadableStream<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) {
      watch(call);
      const texts: string[] = [];
      call.on('data', (req: EchoRequest) => texts.push(req.text ?? ''));
      call.on('end', () => {
        call.sendMetadata(initialMetadata());
        callback(null, reply(call, texts.join('+'), texts.length), trailer());
      });
    },
    Bidi(call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) {
      watch(call);
      let i = 0;
      call.sendMetadata(initialMetadata());
      call.on('data', (req: EchoRequest) => call.write(reply(call, `echo: ${req.text}`, i++)));
      call.on('end', () => call.end(trailer()));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    get started() {
      return started;
    },
    get cancelled() {
      return cancelled;
    },
    async close() {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      server.forceShutdown();
    },
  };
}
