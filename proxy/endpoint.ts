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

export function formatEndpoint(address: string | undefined, port: number | undefined): string {
  return `[${normalizeAddress(address)}]:${port ?? 0}`;
}
