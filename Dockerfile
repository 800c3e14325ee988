# The meshgate image: one image for every component (edge, sidecar, authz, quota, registry, apply, demo apps).

# ---- build: full dependencies, TypeScript compiled to dist/ ----
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY core core
COPY edge edge
COPY sidecar sidecar
COPY authz-svc authz-svc
COPY quota-svc quota-svc
COPY registry registry
COPY proto proto
COPY compose compose
# compose/stack.ts (npm run stack) reuses the etcd/redis starters; they compile with the rest.
COPY test/support test/support
RUN npm run build

# ---- runtime: production dependencies only, non-root ----
FROM node:20-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Loaded at run time: the gRPC APIs (proto-loader), the example routes and their JSON Schema.
COPY proto/*.proto ./proto/
COPY compose/routes.yaml ./compose/routes.yaml
COPY schema ./schema
# Last-known-good config lives here (MESHGATE_STATE_DIR); owned by the unprivileged user the image runs as.
RUN mkdir -p /app/.meshgate && chown 1000:1000 /app/.meshgate
# The image's `node` user (uid/gid 1000 in node:20-slim), by number: Kubernetes' runAsNonRoot can only verify a
# numeric user (a name is refused: "image has non-numeric user").
USER 1000:1000
# Admin ports (DESIGN §4): edge 9901, sidecar 15000, authz 7070, quota 7080, registry 7090; traffic ports
# edge 8080/8443, sidecar 15006/15001, authz gRPC 7071, quota gRPC 7081.
EXPOSE 8080 8443 9901 15000 15001 15006 7070 7071 7080 7081 7090
# Alive when the component's admin /healthz answers 200 (slim has no curl: node's fetch). The component is
# whichever admin port answers: each honours its own MESHGATE_*_PORT override.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const e=process.env;const ports=[e.MESHGATE_EDGE_ADMIN_PORT||9901,e.MESHGATE_SIDECAR_ADMIN_PORT||15000,e.MESHGATE_AUTHZ_HTTP_PORT||7070,e.MESHGATE_QUOTA_HTTP_PORT||7080,e.MESHGATE_REGISTRY_PORT||7090];Promise.any(ports.map(p=>fetch('http://127.0.0.1:'+p+'/healthz',{signal:AbortSignal.timeout(2000)}).then(r=>{if(!r.ok)throw new Error(String(r.status))}))).then(()=>process.exit(0),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/compose/cli.js"]
CMD ["--help"]
