// A consumer of Store watch events for tests: mirrors the watched keys and lets a test await a state, event-driven.
import type { Store, WatchEvent, Watcher } from '../../core/store/store.js';

export class WatchMirror {
  readonly state = new Map<string, string>();
  readonly events: WatchEvent[] = [];
  resets = 0;
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  readonly listener = (event: WatchEvent): void => {
    this.events.push(event);
    if (event.type === 'reset') {
      this.resets++;
      this.state.clear();
    } else if (event.type === 'put') this.state.set(event.key, event.value);
    else this.state.delete(event.key);
    this.waiters = this.waiters.filter((w) => (w.check() ? (w.resolve(), false) : true));
  };

  static async on(store: Store, prefix: string): Promise<{ mirror: WatchMirror; watcher: Watcher }> {
    const mirror = new WatchMirror();
    const watcher = await store.watch(prefix, mirror.listener);
    return { mirror, watcher };
  }

  /** Resolve once `check` holds (checked now and after every event); reject after `timeoutMs`. */
  until(check: (state: Map<string, string>) => boolean, timeoutMs = 15_000, what = 'watched state'): Promise<void> {
    if (check(this.state)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; state: ${JSON.stringify([...this.state])}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push({ check: () => check(this.state), resolve: done });
    });
  }
}
