// Small valid mesh configs for tests: routes /<name> → the first service, as a typed MeshConfig or as YAML text.
import { stringify } from 'yaml';
import type { MeshConfig } from '../../core/config/schema.js';

export function meshConfig(routes: string[], services: string[] = ['svc']): MeshConfig {
  return {
    apiVersion: 'meshgate/v1',
    services: services.map((name) => ({ name })),
    routes: routes.map((name) => ({
      name,
      matches: [{ path: { type: 'PathPrefix', value: `/${name}` } }],
      backendRefs: [{ name: services[0] }],
    })),
  } as MeshConfig;
}

export function meshConfigYaml(routes: string[], services: string[] = ['svc']): string {
  return stringify(meshConfig(routes, services));
}
