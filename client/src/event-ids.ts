/**
 * The gateway's ids are "<ms>-<seq>" and grow on every instance, so a tab can tell an event it
 * already has (a stream handed over resumes from an earlier id than some tabs saw). Anything
 * that is not such an id counts as new: the client never drops what it cannot compare.
 */
export function isAfter(id: string, than: string): boolean {
  const [ms, seq] = id.split("-").map(Number);
  const [thanMs, thanSeq] = than.split("-").map(Number);
  return !((ms! - thanMs! || seq! - thanSeq!) <= 0);
}
