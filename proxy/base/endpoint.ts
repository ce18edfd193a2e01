/**
 * Endpoint strings as Postfix composes them: `[addr]:port`, IPv6 inside
 * the brackets, lower case, IPv4-mapped IPv6 addresses shown as IPv4.
 */

export function normalizeAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  const a = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return mapped ? mapped[1]! : a;
}

/** `host:port`, with an IPv6 address in brackets (`[::1]:10465`). */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export function formatEndpoint(address: string | undefined, port: number | undefined): string {
  return `[${normalizeAddress(address)}]:${port ?? 0}`;
}
