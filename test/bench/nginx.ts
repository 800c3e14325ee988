// nginx for the bench when installed: the upstream (`return 200` with the JSON body) and the reference
// reverse proxy (1 worker, upstream keep-alive). Each instance runs in its own temp prefix, in the foreground.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import net from 'node:net';
import { freePort } from '../support/free-port.js';
import { spawnCommand, type BenchChild } from './bench-process.js';
import { UPSTREAM_BODY } from './upstream-body.js';

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'].find((p) => existsSync(p));

export interface NginxInstance {
  port: number;
  child: BenchChild<{ type: 'ready' }>;
}

function common(prefix: string): string {
  return `
daemon off;
master_process on;
worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${join(prefix, 'client_body')};
  proxy_temp_path ${join(prefix, 'proxy')};
  fastcgi_temp_path ${join(prefix, 'fastcgi')};
  uwsgi_temp_path ${join(prefix, 'uwsgi')};
  scgi_temp_path ${join(prefix, 'scgi')};
  keepalive_requests 1000000;
  keepalive_timeout 60s;
`;
}

const listening = (port: number) => () =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

async function start(prefix: string, conf: string, port: number, core: number | undefined): Promise<NginxInstance> {
  await mkdir(prefix, { recursive: true });
  const file = join(prefix, 'nginx.conf');
  await writeFile(file, conf);
  // -e: the startup error log before the config's error_log applies (default path may not be writable).
  const child = await spawnCommand(NGINX!, ['-p', prefix, '-e', join(prefix, 'error.log'), '-c', file], listening(port), { core });
  return { port, child };
}

export async function startNginxUpstream(dir: string, core: number | undefined): Promise<NginxInstance> {
  const port = await freePort();
  const prefix = join(dir, 'nginx-upstream');
  const body = UPSTREAM_BODY.replace(/'/g, "\\'");
  const conf = `${common(prefix)}
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    location / { default_type application/json; return 200 '${body}'; }
  }
}
`;
  return start(prefix, conf, port, core);
}

export async function startNginxProxy(dir: string, upstreamPort: number, core: number | undefined): Promise<NginxInstance> {
  const port = await freePort();
  const prefix = join(dir, 'nginx-proxy');
  const conf = `${common(prefix)}
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 128; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
    }
  }
}
`;
  return start(prefix, conf, port, core);
}
