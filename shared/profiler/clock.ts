// The wall clock from a performance.now() reading, without reading the wall clock each time.

let epochOffset = 0
let offsetAt = -Infinity

/**
 * Epoch ms of a performance.now() reading: the wall clock's offset from the monotonic one is read
 * again once a second, so a call's timestamps cost no clock read of their own (a read costs most
 * where it runs once per call, its code and the clock's page out of the caches). As exact as
 * Date.now() (whole ms); a wall clock set meanwhile shows within a second.
 */
export function epochMs(monotonic: number): number {
  if (monotonic - offsetAt > 1000) {
    offsetAt = performance.now()
    epochOffset = Date.now() - offsetAt
  }
  return monotonic + epochOffset
}
