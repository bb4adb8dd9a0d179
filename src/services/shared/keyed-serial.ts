/**
 * Runs tasks one after another per key, and tasks of different keys concurrently: a consumer
 * with a prefetch above 1 still handles the events of one order in delivery order, each seeing
 * what the one before it did.
 */
export class KeyedSerial {
  private readonly tails = new Map<string, Promise<unknown>>()

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve()
    const result = previous.then(task)
    const tail = result.catch(() => undefined)
    this.tails.set(key, tail)
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key)
    })
    return result
  }

  /** Keys with a task queued or running. */
  get size(): number {
    return this.tails.size
  }
}
