// A time per delivery of a latency round, kept off the JS heap. The measured processes record one per
// event; an object keyed by event id kept every id and time alive until the round ended, and their
// young collections copied them (bench/HISTORY.md, the thirty-first session). Delivery ids end in the
// load generator's sequence number (bench/lib.ts); a round's first number comes with 'reset'.
export class DeliveryTimes {
  from = 0;
  count = 0;
  times = new Float64Array(4096).fill(NaN);

  reset(from) {
    this.from = from;
    this.count = 0;
    this.times.fill(NaN);
  }

  set(id, time) {
    const i = Number(id.slice(id.lastIndexOf('-') + 1)) - this.from;
    if (!(i >= 0)) return;
    if (i >= this.times.length) {
      const grown = new Float64Array(Math.max(i + 1, this.times.length * 2)).fill(NaN);
      grown.set(this.times);
      this.times = grown;
    }
    this.times[i] = time;
    this.count = Math.max(this.count, i + 1);
  }

  /** The round's times by sequence number from `from` (null where none arrived, as JSON has no NaN). */
  toJSON() {
    return { from: this.from, times: Array.from(this.times.subarray(0, this.count), (t) => (Number.isNaN(t) ? null : t)) };
  }
}
