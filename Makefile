# sessionraft — every target installs what it needs.
SHELL := /bin/bash
SEEDS ?= 2000
NODE_MODULES := node_modules/.package-lock.json
CERTS_DIR ?= certs
# make cluster TLS=1 (also cluster-up, cluster-status, cluster-down): TLS with the certificates of make certs
TLS_ARGS := $(if $(filter 1,$(TLS)),--tls-dir $(CERTS_DIR),)

.PHONY: setup build typecheck test sim sim-core cluster cluster-up cluster-down cluster-status chaos clean help docker-up docker-down image certs bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

setup: $(NODE_MODULES) ## install npm dependencies (npm ci)

build: $(NODE_MODULES) ## compile TypeScript to dist/
	npx tsc -p tsconfig.build.json

typecheck: $(NODE_MODULES) ## typecheck src, test and bench
	npx tsc -p tsconfig.json --noEmit

test: $(NODE_MODULES) typecheck build ## typecheck, build and run the whole suite
	npx vitest run

sim: $(NODE_MODULES) ## the deterministic simulation of real nodes: make sim SEEDS=N [SEED=s] [ARGS='--bug NAME']
	npx tsx test/sim/session/cli.ts --seeds $(SEEDS) $(if $(SEED),--seed $(SEED),) $(ARGS)

sim-core: $(NODE_MODULES) ## the simulation of the bare Raft core: make sim-core SEEDS=N [SEED=s] [ARGS='--profile P --bug B']
	npx tsx test/sim/core/cli.ts --seeds $(SEEDS) $(if $(SEED),--seed $(SEED),) $(ARGS)

cluster: build $(if $(TLS_ARGS),certs,) ## build and run a three-node cluster on 127.0.0.1:7001-7003 (Ctrl-C stops it); TLS=1 for TLS
	node dist/src/cli/main.js cluster run $(TLS_ARGS) $(ARGS)

cluster-up: build $(if $(TLS_ARGS),certs,) ## start the three nodes in the background (TLS=1 for TLS)
	node dist/src/cli/main.js cluster up $(TLS_ARGS) $(ARGS)

cluster-down: ## stop the background cluster
	node dist/src/cli/main.js cluster down $(ARGS)

cluster-status: ## print the status of every node (TLS=1 if it runs with TLS)
	node dist/src/cli/main.js cluster status $(TLS_ARGS) $(ARGS)

certs: ## a local CA, node-1..3 and client certificates under $(CERTS_DIR)/ (git-ignored; FORCE=1 renews)
	bash scripts/make-certs.sh $(CERTS_DIR) 3

chaos: build ## a real cluster under kill -9, SIGSTOP and restarts, history checked: make chaos [CHAOS_SEED=s] [CHAOS_MS=ms]
	npx vitest run test/chaos

docker-up: ## root, Debian: install docker.io if missing, start a bridge-less dockerd, build the local base image
	bash scripts/docker-up.sh

docker-down: ## remove that dockerd's containers and stop the dockerd docker-up started
	bash scripts/docker-down.sh

image: docker-up ## build the node image sessionraft:local from deploy/Dockerfile on the local base image
	docker build --network host -f deploy/Dockerfile --build-arg NODE_IMAGE=sessionraft/node-base:local -t sessionraft:local .

bench: build ## sessionraft vs etcd, NATS, Redis, all started here: env CONC WARMUP DURATION WORKLOADS SYSTEMS, or ARGS (node bench/run.mjs --help)
	node bench/run.mjs $(ARGS)

clean: ## remove build output
	rm -rf dist
