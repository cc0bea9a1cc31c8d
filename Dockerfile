# phi-guard admission webhook image.
#
# Runtime: Google's distroless Node.js 24 (Debian 12), "nonroot" variant.
# - Node 24 is the newest LTS line (supported until April 2028, Node 22 until April 2027:
#   https://nodejs.org/en/about/previous-releases); .ci/run runs the tests on Node 24 too.
# - distroless has no shell, no package manager and no coreutils: a compromised process finds no
#   tools, and scanners find little to flag. Nothing here needs a shell: the kubelet's probes are
#   HTTPS requests, and the server drains itself on SIGTERM without an exec hook.
# - node:24-alpine would bring a shell and musl libc in exchange for nothing phi-guard uses.
# https://github.com/GoogleContainerTools/distroless/blob/main/nodejs/README.md
#
# Base images are named by tag; pin them by digest (image@sha256:...) in your build pipeline and
# let Renovate or Dependabot keep the digests current.
#
# Build:  docker build -t ghcr.io/phi-guard/phi-guard:0.1.0 .

# 1. Compile TypeScript with the dev dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY policies ./policies
RUN npx tsc -p tsconfig.json

# 2. Production dependencies only, without install scripts (none of them needs one).
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# 3. The runtime: the compiled server and policies, production node_modules, package.json (it
#    marks the .js files as ES modules and gives `phi-guard --version`). No RUN here: no shell.
FROM gcr.io/distroless/nodejs24-debian12:nonroot AS runtime
WORKDIR /app
# A smaller young generation (V8 semi-space of 4 MiB instead of 16) keeps the resident set under
# the 150 MB target at the same CPU per request (measured with `npm run bench`, which starts the
# server with this same NODE_OPTIONS value read from here).
ENV NODE_ENV=production NODE_OPTIONS=--max-semi-space-size=4
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/policies ./dist/policies
COPY package.json ./
# distroless "nonroot": uid and gid 65532, numeric so that the kubelet can verify runAsNonRoot.
USER 65532:65532
EXPOSE 8443 9090
# No HEALTHCHECK: Kubernetes ignores it; the Deployment's liveness and readiness probes call
# /healthz and /readyz over HTTPS.
ENTRYPOINT ["/nodejs/bin/node", "dist/src/cli.js"]
CMD ["serve"]
