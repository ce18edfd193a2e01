/**
 * Tests that need an outside tool (haproxy, memcached, Chromium, Postfix,
 * Node 24, the native addon...) skip where it is missing, with one line
 * `SKIP <what>: <why>` that says how to get it. test/run.mjs counts these
 * lines (and uvu's skipped tests): under CI (CI=true) any skip fails the
 * run, because .ci/run installs every tool the tests need and a skip there
 * would hide a broken install step.
 */

/** Print the SKIP line for `what` (a test or a group of tests) missing `why`. */
export function skipped(what: string, why: string): void {
  console.log(`SKIP ${what}: ${why}`);
}
