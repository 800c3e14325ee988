// lru-cache bounded by entry count without preallocation. Its `max` option allocates the cache's index lists for
// `max` entries up front (≈ 15 MB for a million-key bound, resident in every idle sidecar); `maxSize` with every entry
// weighing 1 is the same bound, with lists that grow as entries arrive.

/** Spread into LRUCache options: at most `entries` entries, nothing preallocated. */
export function countBound(entries: number): { maxSize: number; sizeCalculation: () => number } {
  return { maxSize: entries, sizeCalculation: () => 1 };
}
