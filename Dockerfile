# sse-gateway container image. Node 24 runs the TypeScript sources directly
# (type stripping), so there is no build step: one stage resolves production
# dependencies, the final stage holds them, the sources and nothing else.

FROM node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev also skips the `node` devDependency (a Node binary for development
# machines): the image's own Node 24 runs the gateway.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim
# tini as PID 1 forwards SIGTERM to the gateway (which then drains its streams)
# and reaps zombies; node as PID 1 would get no default signal handling.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
# The browser client the demo page loads.
COPY client/dist ./client/dist
COPY scripts/healthcheck.ts ./scripts/healthcheck.ts
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "scripts/healthcheck.ts"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "src/main.ts"]
