// One upstream request as an undici dispatch handler: resolves `response` once the status and headers arrive,
// then writes the body straight into the client's response with boolean backpressure (pause on a full socket,
// resume on 'drain') and forwards the trailers. No Readable, no stream.pipeline, no AbortController per request:
// what undici's own Pool.stream does, with the decision to forward, retry or discard left to the layers.
import type { Dispatcher } from 'undici';
import type { HeaderValue } from '../pipeline/exchange.js';
import { upstreamError, type BodySink, type UpstreamBody, type UpstreamResponse } from './upstream.js';

/** A discarded body at most this long is read to the end so its connection is reused; a longer one is cut. */
const DUMP_LIMIT = 64 * 1024;
/** Bytes held while no sink is attached yet (between the headers and the listener's pipeTo) before pausing. */
const PENDING_LIMIT = 64 * 1024;

type Trailers = Record<string, HeaderValue | undefined>;

export class DispatchedResponse implements Dispatcher.DispatchHandler, UpstreamBody {
  readonly response: Promise<UpstreamResponse>;
  private resolve!: (response: UpstreamResponse) => void;
  private reject!: (err: unknown) => void;
  private controller: Dispatcher.DispatchController | undefined;
  /** The final response's status; 0 until its head arrived. */
  private status = 0;
  private ended = false;
  private error: Error | undefined;
  /** Cancelled before the request reached a connection: aborted as soon as it does. */
  private cancelled: Error | undefined;
  private trailers: Trailers | undefined;
  private sink: BodySink | undefined;
  private done: ((err?: Error) => void) | undefined;
  private pending: Buffer[] | undefined;
  private pendingBytes = 0;
  private dumping = false;
  private readonly onDrain = () => this.controller?.resume();
  /** Until the response head arrives: the try's time limit, on a native timer (see poolUpstream). */
  private headTimer: NodeJS.Timeout | undefined;

  /** `headTimeoutMs`: the request is cut, and fails as a timeout, when no response head came within it. */
  constructor(
    private readonly address: string,
    headTimeoutMs?: number,
  ) {
    this.response = new Promise<UpstreamResponse>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    if (headTimeoutMs !== undefined) this.headTimer = setTimeout(this.onHeadTimeout, headTimeoutMs);
  }

  private readonly onHeadTimeout = () => {
    this.headTimer = undefined;
    const err = Object.assign(new Error('no response head within the time limit'), { name: 'TimeoutError' });
    this.destroy(err);
    if (this.controller) return; // undici reports the abort through onResponseError
    // Still queued for a connection: fail now; the request is dropped when it reaches one.
    this.error = err;
    this.reject(upstreamError(err, this.address));
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.cancelled) controller.abort(this.cancelled);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, HeaderValue | undefined>): void {
    if (statusCode < 200) return; // 1xx informational: the final response follows
    clearTimeout(this.headTimer);
    this.status = statusCode;
    this.resolve({ status: statusCode, headers, body: this });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.sink) {
      if (!this.sink.write(chunk)) {
        controller.pause();
        this.sink.once('drain', this.onDrain);
      }
      return;
    }
    if (this.dumping) {
      this.pendingBytes += chunk.length;
      if (this.pendingBytes > DUMP_LIMIT) controller.abort(new Error('discarded response body over the limit'));
      return;
    }
    (this.pending ??= []).push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes > PENDING_LIMIT) controller.pause();
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Trailers): void {
    this.ended = true;
    for (const _ in trailers) {
      this.trailers = trailers;
      break;
    }
    if (this.sink) this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    clearTimeout(this.headTimer);
    if (this.ended || this.error) return;
    if (this.status === 204 || this.status === 304) {
      // Nothing follows the head of these (RFC 9110 §15.3.5, §15.4.5), so an error after it loses nothing. undici
      // counts a 304's Content-Length, which describes the representation (§8.6), as a body it did not get.
      this.ended = true;
      if (this.sink) this.finish();
      return;
    }
    this.error = err;
    if (this.status === 0) {
      this.reject(upstreamError(err, this.address));
      return;
    }
    const done = this.done;
    this.done = undefined;
    done?.(err);
  }

  pipeTo(sink: BodySink, done: (err?: Error) => void): void {
    if (this.error) return done(this.error);
    this.sink = sink;
    this.done = done;
    const pending = this.pending;
    if (pending) {
      this.pending = undefined;
      this.pendingBytes = 0;
      let writable = true;
      for (const chunk of pending) writable = sink.write(chunk) && writable;
      if (!writable) {
        this.controller?.pause();
        sink.once('drain', this.onDrain);
      } else if (this.controller?.paused) this.controller.resume();
    }
    if (this.ended) this.finish();
  }

  dump(): void {
    if (this.ended || this.error) return;
    this.pending = undefined;
    this.dumping = true;
    if (this.pendingBytes > DUMP_LIMIT) this.destroy();
    else if (this.controller?.paused) this.controller.resume();
  }

  destroy(err: Error = new Error('upstream request cancelled')): void {
    clearTimeout(this.headTimer);
    if (this.ended || this.error) return;
    if (this.controller) this.controller.abort(err);
    else this.cancelled = err;
  }

  private finish(): void {
    const sink = this.sink!;
    if (this.trailers && sink.addTrailers) sink.addTrailers(this.trailers as Record<string, string>);
    sink.end();
    const done = this.done;
    this.done = undefined;
    done?.();
  }
}
