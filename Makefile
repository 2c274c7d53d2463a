# sessionraft — every target installs what it needs.
SHELL := /bin/bash
SEEDS ?= 2000
NODE_MODULES := node_modules/.package-lock.json

.PHONY: setup build typecheck test sim cluster cluster-up cluster-down cluster-status chaos bench clean help

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

sim: $(NODE_MODULES) ## run the deterministic simulation: make sim SEEDS=N [SEED=s]
	npx tsx test/sim/cli.ts --seeds $(SEEDS) $(if $(SEED),--seed $(SEED),)

cluster: build ## build and run a three-node cluster on 127.0.0.1:7001-7003 (Ctrl-C stops it)
	node dist/src/cli/main.js cluster run $(ARGS)

cluster-up: build ## start the three nodes in the background
	node dist/src/cli/main.js cluster up $(ARGS)

cluster-down: ## stop the background cluster
	node dist/src/cli/main.js cluster down $(ARGS)

cluster-status: ## print the status of every node
	node dist/src/cli/main.js cluster status $(ARGS)

chaos: build ## a real cluster under kill -9, SIGSTOP and restarts, history checked: make chaos [CHAOS_SEED=s] [CHAOS_MS=ms]
	npx vitest run test/chaos

bench: build ## sessionraft vs etcd, NATS, Redis, all started here: env CONC WARMUP DURATION WORKLOADS SYSTEMS, or ARGS (node bench/run.mjs --help)
	node bench/run.mjs $(ARGS)

clean: ## remove build output
	rm -rf dist
