# One image for every Rift role (gateway, field, dungeon, chat, coordinator): the role is chosen
# at run time with `--role`, configuration comes from config/default.yaml, an optional
# `--config FILE` and RIFT__SECTION__KEY=value environment variables. See docs/DOCKER.md.
FROM node:20-bookworm-slim

WORKDIR /app

# Dependencies first, for layer caching. The full install (dev dependencies included) is
# deliberate: the roles run TypeScript directly through tsx, which is a dev dependency.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY config ./config
COPY src ./src
COPY web ./web
COPY docker/healthcheck.mjs ./docker/healthcheck.mjs

ENV NODE_ENV=production \
    RIFT__OPS__PORT=9100

# Run as the image's unprivileged "node" user; nothing under /app needs to be written.
USER node

# 7000 gateway client WebSocket, 7100 field/dungeon link, 9100 ops HTTP (/healthz, /metrics).
EXPOSE 7000 7100 9100

HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=6 \
  CMD ["node", "docker/healthcheck.mjs"]

ENTRYPOINT ["npx", "--no-install", "tsx", "src/main.ts"]
CMD ["--role", "gateway"]
