/**
 * Map an async source with at most `limit` calls in flight, yielding results as they complete.
 * Pulls from the source only when a slot is free, so memory stays bounded by `limit`.
 */
export async function* mapConcurrent<T, R>(source: AsyncIterable<T> | Iterable<T>, limit: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  if (!(limit >= 1)) throw new RangeError(`limit must be at least 1, got ${limit}`);
  const iterator = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : toAsync(source as Iterable<T>);
  // Settled results wait in a queue; one waiter is woken per settlement (no race over every
  // promise in flight, which costs window x results).
  const settled: ({ ok: true; value: R } | { ok: false; error: unknown })[] = [];
  const pending = new Set<Promise<void>>();
  let wake: (() => void) | undefined;
  let done = false;
  const launch = (item: T) => {
    const p: Promise<void> = fn(item).then(
      (value) => void settled.push({ ok: true, value }),
      (error: unknown) => void settled.push({ ok: false, error }),
    ).finally(() => {
      pending.delete(p);
      wake?.();
    });
    pending.add(p);
  };
  try {
    for (;;) {
      while (!done && pending.size + settled.length < limit) {
        const next = await iterator.next();
        if (next.done) {
          done = true;
          break;
        }
        launch(next.value);
      }
      if (settled.length === 0) {
        if (pending.size === 0) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      const result = settled.shift()!;
      if (!result.ok) throw result.error;
      yield result.value;
    }
  } finally {
    if (!done) await iterator.return?.();
    // Let what is in flight settle so no rejection goes unhandled after an early stop.
    await Promise.allSettled(pending);
  }
}

/** Merge async sources, running at most `limit` of them at once; items are yielded as they come. */
export async function* mergeBounded<T>(sources: Iterable<() => AsyncIterable<T>>, limit: number): AsyncGenerator<T> {
  type Pending = { index: number; iterator: AsyncIterator<T>; promise: Promise<{ index: number; result: IteratorResult<T> }> };
  const queue = [...sources];
  const active = new Map<number, Pending>();
  let started = 0;
  const pull = (index: number, iterator: AsyncIterator<T>): Pending => ({
    index,
    iterator,
    promise: iterator.next().then((result) => ({ index, result })),
  });
  const startMore = () => {
    while (active.size < limit && queue.length > 0) {
      const make = queue.shift()!;
      const index = started++;
      active.set(index, pull(index, make()[Symbol.asyncIterator]()));
    }
  };
  try {
    startMore();
    while (active.size > 0) {
      const { index, result } = await Promise.race([...active.values()].map((p) => p.promise));
      const pending = active.get(index)!;
      if (result.done) {
        active.delete(index);
        startMore();
        continue;
      }
      active.set(index, pull(index, pending.iterator));
      yield result.value;
    }
  } finally {
    for (const p of active.values()) {
      void p.promise.catch(() => undefined);
      await p.iterator.return?.();
    }
  }
}

async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}
