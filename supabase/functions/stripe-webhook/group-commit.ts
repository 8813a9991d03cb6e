// Group commit: requests that arrive while a transaction runs wait for it to end, then go together in the next
// one. An idle request never waits (nothing in flight: its transaction starts at once), a queued one waits at
// most for the transaction before it; a batch holds at most maxBatch items. Each item gets its own outcome
// from the batch's result; if the batch fails, every item of it gets that failure.

export type GroupCommitOptions<T = never> = {
  /** the most items in one transaction */
  maxBatch: number;
  /** transactions in flight at once (1: everything that queued meanwhile goes into the next one) */
  maxInFlight: number;
  /** an item's size (e.g. its bytes) and the most a batch holds of it; a single item larger goes alone */
  size?: (item: T) => number;
  maxSize?: number;
};

type Waiter<T, R> = { item: T; resolve: (r: R & { batch: number }) => void; reject: (e: unknown) => void };

/** A batch's transaction failed: nothing of it was recorded. `cause`: what `run` threw; `batch`: its size. */
export class GroupCommitError extends Error {
  constructor(cause: unknown, readonly batch: number) {
    super(`a group commit of ${batch} item(s) failed`, { cause });
    this.name = "GroupCommitError";
  }
}

export class GroupCommit<T, R> {
  #queue: Waiter<T, R>[] = [];
  #inFlight = 0;

  /** `run` gets the items of one batch and returns their results in the same order, or throws. */
  constructor(private readonly run: (items: T[]) => Promise<R[]>, private readonly options: GroupCommitOptions<T>) {}

  /** The item's own result once its batch ended (with `batch`: how many items shared the transaction). */
  submit(item: T): Promise<R & { batch: number }> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#pump();
    });
  }

  #pump() {
    while (this.#inFlight < this.options.maxInFlight && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#take());
      this.#inFlight++;
      void this.#flush(batch);
    }
  }

  /** How many queued items the next batch takes: up to maxBatch, and up to maxSize (at least one). */
  #take(): number {
    const { maxBatch, size, maxSize } = this.options;
    const limit = Math.min(maxBatch, this.#queue.length);
    if (!size || maxSize === undefined) return limit;
    let total = 0;
    for (let n = 0; n < limit; n++) {
      total += size(this.#queue[n].item);
      if (total > maxSize) return Math.max(1, n);
    }
    return limit;
  }

  async #flush(batch: Waiter<T, R>[]) {
    try {
      const results = await this.run(batch.map((w) => w.item));
      if (results.length !== batch.length) {
        throw new Error(`group commit: ${results.length} results for ${batch.length} items`);
      }
      batch.forEach((w, i) => w.resolve({ ...results[i], batch: batch.length }));
    } catch (err) {
      for (const w of batch) w.reject(new GroupCommitError(err, batch.length));
    } finally {
      this.#inFlight--;
      this.#pump();
    }
  }
}
