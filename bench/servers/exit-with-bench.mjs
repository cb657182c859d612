// A bench target lives as long as the bench: when the bench stops it (SIGTERM) or its IPC channel
// closes (the bench ended, crashed or was interrupted), the target closes once and exits instead of
// serving on as an orphan.
export function exitWithBench(close = async () => {}) {
  let closing;
  const closeAndExit = () => void (closing ??= close().finally(() => process.exit(0)));
  process.once('SIGTERM', closeAndExit).once('disconnect', closeAndExit);
}
