/** `HOST:PORT` for --http-listen: an IPv4 address or name, or an IPv6 address in brackets. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65_535) throw new RangeError(`expected HOST:PORT (IPv6 as [addr]:port), got '${text}'`);
  return { host: (match[1] ?? match[2])!, port };
}

export function formatListenAddress({ host, port }: ListenAddress): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
