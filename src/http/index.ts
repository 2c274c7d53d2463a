/**
 * http/: the node's operations endpoints on their own HTTP port (--http-listen): GET /metrics,
 * /healthz and /readyz. The CLI builds it once per node with startOpsServer(nodeOpsSource(node)).
 */
export { formatListenAddress, parseListenAddress, type ListenAddress } from './address.js';
export { createNodeMetrics, type NodeMetrics, type NodeMetricsOptions } from './metrics.js';
export { OPS_PATHS, readiness, startOpsServer, type OpsServer, type OpsServerOptions, type Readiness } from './server.js';
export { nodeOpsSource, type NodeOpsSource, type OpsNode, type OpsSource, type RequestCount } from './source.js';
