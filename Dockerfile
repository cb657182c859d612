# syntax=docker/dockerfile:1
# One image for every role: `gateway`, `worker`, `dev`. Users add functions with an image FROM this one.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin bin
COPY src src
COPY connectors connectors
COPY schemas schemas
RUN npm run build && npm pack --ignore-scripts && mv switchboard-*.tgz /switchboard.tgz

# The runtime stage is what test/production-install.test.ts reproduces without a Docker engine:
# the packed tarball installed with production dependencies only, started as a gateway.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
RUN --mount=from=build,source=/switchboard.tgz,target=/tmp/switchboard.tgz \
    npm install --omit=dev --ignore-scripts --no-audit --no-fund /tmp/switchboard.tgz \
 && npm cache clean --force
ENV PATH=/app/node_modules/.bin:$PATH
# Non-root, and nothing written outside /tmp (mount an emptyDir there with a read-only root filesystem).
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["switchboard"]
CMD ["gateway", "--config", "/etc/switchboard/switchboard.yaml"]
