/** Statistics shared by the bench's scripts (proxy-bench.ts, engine-micro.ts). */

/** The median of `xs` (the mean of the two middle values for an even count); NaN when empty. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (!n) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}
