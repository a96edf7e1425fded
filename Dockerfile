# The sandbox image. The base tag MUST equal the @cloudflare/sandbox npm version in
# package.json (0.12.7): the SDK in the Worker and the control server in this image
# speak one protocol, and a mismatch fails at runtime. 0.12.7 is also the version of
# Cloudflare's runtime source that local sandboxes run (scripts/lib/sandbox-runtime.ts),
# so the three agree; `npm test` checks that.
# The -python variant brings Python 3.11 with pip, pandas, numpy and matplotlib.
FROM docker.io/cloudflare/sandbox:0.12.7-python

# Build tools and git (seed 003's environment).
RUN apt-get update \
 && apt-get install -y --no-install-recommends git build-essential \
 && rm -rf /var/lib/apt/lists/*

# Python packages the base lacks (pandas, numpy, matplotlib come with the -python image).
RUN pip3 install --no-cache-dir requests gitpython

# Node tooling for TypeScript projects.
RUN npm install -g typescript ts-node esbuild && npm cache clean --force

# The opencode CLI for the `opencode` agent (the runner only spawns it). Same version
# as the opencode-ai devDependency the tests run (`npm test` checks the two agree).
# Its provider SDKs are bundled in the binary: nothing is installed at job time.
RUN npm install -g opencode-ai@1.18.33 && npm cache clean --force && opencode --version

# The in-sandbox runner (snapshot, restore, sync, run-job): one file with no
# dependencies, built by `npm run build:runner` (npm run deploy builds it first).
# sandboxd mounts the same bundle at the same path in local sandboxes (RUNNER_PATH in
# src/shared/snapshot-format.ts; nothing reads a directory variable).
COPY dist/runner/runner.mjs /opt/sandbox-worker/runner.mjs
# The Node the runner runs on (RUNNER_NODE), execute-only: where a sandbox's root cannot
# override file permissions (local jails), a process run from an unreadable file is not
# dumpable and the agent cannot read the runner's environment or memory. Here root keeps
# CAP_DAC_OVERRIDE, so it is the same command line more than a protection.
RUN mkdir -p /opt/sandbox-node && install -m 0111 "$(command -v node)" /opt/sandbox-node/node

# The runner's state (state.json, hash cache, workspace lock; `flock` is util-linux's,
# part of every Debian/Ubuntu base) lives outside /workspace, on the container's own
# disk: it dies with the container, which is how a fresh workspace is recognised.
RUN mkdir -p /var/lib/sandbox-worker

WORKDIR /workspace
EXPOSE 3000
