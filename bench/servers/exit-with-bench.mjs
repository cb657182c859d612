// A bench target lives as long as the bench: when the bench's IPC channel closes (it ended, crashed or
// was interrupted), the target closes and exits instead of serving on as an orphan.
export function exitWithBench(close = async () => {}) {
  process.once('disconnect', () => void close().finally(() => process.exit(0)));
}
