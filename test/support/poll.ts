/**
 * Poll `fn` until `ok` accepts its value; throws naming `what` and the last value when `ms` runs
 * out, so a timed-out wait reads as what the test was waiting for.
 */
export async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await fn();
  while (!ok(v)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, everyMs));
    v = await fn();
  }
  return v;
}
