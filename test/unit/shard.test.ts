import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {shardOf} from '../../src/contract/shard.js'

// Worked out by hand from h = (h*31 + c) >>> 0 over UTF-16 code units, e.g. 'TS-001':
// 84 → 2687 → 83342 → 2583650 → 80093198 → 2482889187, and 2482889187 % 4 = 3.
const hashes: Array<[string, number]> = [
  ['', 0],
  ['a', 97],
  ['é', 233],
  ['日本', 835_047],
  // One code point, two UTF-16 code units (0xD83D, 0xDE00): hashed as the units, not the code point.
  ['😀', 1_772_899],
  ['TS-001', 2_482_889_187],
  ['TS-010', 2_482_889_217],
  // Long enough to pass 2^32 several times: only the 32-bit wrap gives this.
  ['timesheet-2024-000123', 1_168_917_716],
]

const shardsOf4: Array<[string, number]> = [
  ['TS-001', 3],
  ['TS-002', 0],
  ['TS-003', 1],
  ['TS-004', 2],
  ['TS-005', 3],
  ['TS-006', 0],
  ['TS-007', 1],
  ['TS-008', 2],
  ['TS-009', 3],
  ['TS-010', 1],
  ['', 0],
  ['a', 1],
  ['é', 1],
  ['日本', 3],
  ['😀', 3],
  ['timesheet-2024-000123', 0],
]

describe('shardOf', () => {
  it('assigns the known keys to the seed’s shards (N = 4)', () => {
    for (const [key, shard] of shardsOf4) assert.equal(shardOf(key, 4), shard, `key ${JSON.stringify(key)}`)
  })

  it('computes the seed’s 32-bit hash (N = 2^32 leaves it whole)', () => {
    for (const [key, hash] of hashes) assert.equal(shardOf(key, 2 ** 32), hash, `key ${JSON.stringify(key)}`)
  })

  it('takes the wrapped hash modulo N for N that does not divide 2^32', () => {
    // Without the wrap these would be 1 and 6 (the unbounded sum modulo 3 and 7).
    assert.equal(shardOf('timesheet-2024-000123', 3), 2)
    assert.equal(shardOf('timesheet-2024-000123', 7), 1)
  })

  it('gives the same key the same shard, always within 0 ≤ shard < N', () => {
    for (let n = 1; n <= 16; n++) {
      for (let i = 0; i < 500; i++) {
        const key = randomKey(i)
        const shard = shardOf(key, n)
        assert.ok(Number.isInteger(shard) && shard >= 0 && shard < n, `${shard} for N=${n}`)
        assert.equal(shardOf(key, n), shard)
      }
    }
  })

  it('spreads keys over every shard', () => {
    const counts = new Array<number>(4).fill(0)
    for (let i = 0; i < 1000; i++) counts[shardOf(`TS-${i}`, 4)]! += 1
    assert.ok(
      counts.every((c) => c > 100),
      `counts ${counts.join(', ')}`,
    )
  })

  it('refuses a shard count that is not a positive integer', () => {
    assert.throws(() => shardOf('a', 0), /numShards must be a positive integer, got 0/)
    assert.throws(() => shardOf('a', 2.5), /got 2.5/)
  })
})

/** Deterministic keys mixing ASCII, accents and surrogate pairs, of lengths 0 to 39. */
function randomKey(seed: number): string {
  const alphabet = ['a', 'Z', '-', '0', '9', 'é', 'ß', '日', '😀', ' ']
  let key = ''
  let x = seed * 2_654_435_761
  for (let i = 0; i < seed % 40; i++) {
    x = (x * 1_103_515_245 + 12_345) >>> 0
    key += alphabet[x % alphabet.length]
  }
  return key
}
