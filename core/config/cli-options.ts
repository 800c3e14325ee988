// Shared CLI option builders: flags override env (MESHGATE_*), bad values fail with the flag named (exit 2).
import { InvalidArgumentError, Option } from 'commander';

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

/** `--name <value>` with its MESHGATE_* environment fallback and a default. */
export function portOption(flags: string, env: string, defaultPort: number, description: string): Option {
  return new Option(flags, description).env(env).argParser(parsePort).default(defaultPort);
}

export function envOption(flags: string, env: string, description: string): Option {
  return new Option(flags, description).env(env);
}
