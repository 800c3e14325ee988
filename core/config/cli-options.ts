// Shared CLI option builders: flags override env (MESHGATE_*), bad values fail with the flag named (exit 2).
import { InvalidArgumentError, Option } from 'commander';
import { MAX_TIMER_MS, parseDuration } from './duration.js';

export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^[0-9]+$/.test(value) || port > 65535) throw new InvalidArgumentError(`"${value}" is not a port (0-65535; 0 picks a free one)`);
  return port;
}

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < 1) throw new InvalidArgumentError(`"${value}" is not a positive integer`);
  return n;
}

export function parseHostPort(value: string): string {
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(value)) throw new InvalidArgumentError(`"${value}" is not host:port`);
  return value;
}

/** A duration a timer can wait (0s included), in milliseconds. */
export function parseTimerDuration(value: string): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch {
    throw new InvalidArgumentError(`"${value}" is not a duration (e.g. 0s, 500ms, 10s, 1m)`);
  }
  if (ms > MAX_TIMER_MS) throw new InvalidArgumentError(`"${value}" is longer than a timer holds (${MAX_TIMER_MS} ms)`);
  return ms;
}

/** `--name <duration>` in milliseconds, with its MESHGATE_* environment fallback and a default (shown as written). */
export function durationOption(flags: string, env: string, defaultMs: number, defaultText: string, description: string): Option {
  return new Option(flags, description).env(env).argParser(parseTimerDuration).default(defaultMs, defaultText);
}

/** `--name <value>` with its MESHGATE_* environment fallback and a default. */
export function portOption(flags: string, env: string, defaultPort: number, description: string): Option {
  return new Option(flags, description).env(env).argParser(parsePort).default(defaultPort);
}

export function envOption(flags: string, env: string, description: string): Option {
  return new Option(flags, description).env(env);
}
