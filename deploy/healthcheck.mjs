// Docker HEALTHCHECK: GET /healthz on the node's --http-listen address, taken from
// SESSIONRAFT_HTTP_LISTEN (or argv[2]); a wildcard host is reached over loopback.
// Exit 0 on 200, 1 otherwise (unreachable, 503, or no answer within 2 s).
const listen = process.argv[2] ?? process.env.SESSIONRAFT_HTTP_LISTEN ?? '127.0.0.1:8080';
const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
if (!match) {
  console.error(`healthcheck: cannot parse '${listen}' as host:port`);
  process.exit(1);
}
let host = match[1] ?? match[2] ?? '';
if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
if (host === '::') host = '::1';
const url = `http://${host.includes(':') ? `[${host}]` : host}:${match[3]}/healthz`;
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  console.log(`${url}: ${response.status} ${await response.text()}`);
  process.exit(response.status === 200 ? 0 : 1);
} catch (error) {
  console.log(`${url}: ${error.message}`);
  process.exit(1);
}
