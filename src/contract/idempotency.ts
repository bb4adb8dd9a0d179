/** Where a consumer remembers a processed idempotency key in Redis (`poc reset` deletes them). */
export function idempotencyRedisKey(key: string): string {
  return `idemp:${key}`
}
