/** A token bucket per connector and gateway replica: bursts up to `requests`, refilled evenly over `perMs`. */
export class RateLimiter {
  private tokens: number;
  private last: number;
  private readonly ratePerMs: number;

  constructor(
    private readonly capacity: number,
    perMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = capacity;
    this.last = now();
    this.ratePerMs = capacity / perMs;
  }

  /** Takes a token; returns undefined when allowed, else the seconds to wait (for Retry-After). */
  take(): number | undefined {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + (t - this.last) * this.ratePerMs);
    this.last = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - this.tokens) / this.ratePerMs / 1000));
  }
}
