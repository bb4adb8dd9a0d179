/**
 * The shard of an event key (SPEC §3): the seed's 31-multiplier hash over UTF-16 code units,
 * kept bit for bit because users rely on which shard, and so which ordered queue, a key lands in.
 */
export function shardOf(key: string, numShards: number): number {
  if (!Number.isInteger(numShards) || numShards < 1) {
    throw new RangeError(`numShards must be a positive integer, got ${numShards}`)
  }
  let h = 0
  for (let i = 0; i < key.length; i++) {
    // h < 2^32, so h * 31 + c stays far below 2^53: exact in a double before the 32-bit wrap.
    h = (h * 31 + key.charCodeAt(i)) >>> 0
  }
  return h % numShards
}
