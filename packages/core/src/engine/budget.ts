/**
 * The client-side picture of one of Graph's token buckets (a tenant's resource units, a tenant's
 * writes, the app's resource units across tenants, ...): how big it is, how fast it refills and how
 * much of it is left right now. The engine spends from it before sending and corrects it with what
 * Graph says afterwards:
 *
 * - `x-ms-throttle-limit-percentage` (present once a budget is over 80 % used) gives the level
 *   itself: the estimate is re-anchored to it, so errors in the learned rate never accumulate;
 * - its absence says more than 20 % is left;
 * - the spread of the percentage across the sub-requests of one batch gives the size of the bucket
 *   (they were charged one after another), and two readings apart in time give the refill rate;
 * - a 429 pauses the budget until `Retry-After` and cuts the learned rate.
 *
 * Until the first reading, sending ramps up like TCP's slow start (units in flight grow with every
 * clean answer), so a bucket far smaller than documented is found before it is overrun.
 */

/**
 * Slow start: units in flight may reach this share of the units answered cleanly so far (at least the
 * initial window). Graph reports from 80 % on, so when the first reading comes after 0.8 of the bucket was
 * answered, what is in flight (0.25 x 0.8 = 0.2 of it) still fits in the 20 % left. The window grows
 * by a quarter per round trip.
 */
const SLOW_START_SHARE = 0.25;

/** Percentages below this are not reported by Graph. */
export const REPORTING_THRESHOLD = 0.8;

export interface BudgetOptions {
  name: string;
  /** Documented (or hinted) size: the first guess, and the optimistic starting level. */
  capacity: number;
  windowMs: number;
  /** Share of the budget to keep used once near it (0.9). */
  target: number;
  /** Units one batch can take at most (20): sets the capacity floor. */
  batchUnits: number;
  /** Units in flight allowed before any answer (slow start's first window); default 3 batches. */
  initialWindow?: number | undefined;
}

/** A reading of the bucket taken from one answer. */
export interface BudgetReading {
  /** When Graph charged the request (estimated: the middle of the round trip). */
  at: number;
  /** `spent` right after the batch that carries the reading was taken from this budget. */
  mark: number;
}

export class Budget {
  readonly name: string;
  /** Learned size of the bucket, units. */
  capacity: number;
  /** Learned refill, units per ms. */
  ratePerMs: number;
  /** Units taken so far (estimated when taken, corrected when the answer says what was charged). */
  spent = 0;
  /** New work drawing on this budget waits until then (a 429's Retry-After). */
  pausedUntil = 0;
  /** A percentage reading has been seen: margins and batch limits apply from then on. */
  anchored = false;

  private readonly target: number;
  private readonly batchUnits: number;
  private readonly floor: number;
  private readonly initialWindow: number;
  private level: number;
  private at: number;
  private inFlight = 0;
  /** Slow start: units answered without a reading while not anchored. */
  private clean = 0;
  /** When the level was last set from a reading (older readings do not override it). */
  private anchorAt = Number.NEGATIVE_INFINITY;
  private lastReading: { at: number; u: number; charged: number } | undefined;
  /** Units Graph actually charged, as answers came back. */
  private charged = 0;
  private spread = { units: 0, du: 0 };
  private firstSpendAt: number | undefined;
  private lastCutAt = Number.NEGATIVE_INFINITY;
  /** When Graph last said something about this budget (a percentage, its absence, a 429). */
  private lastNewsAt: number;
  /** When Graph last gave a percentage (a reading or a 429's). */
  private lastPreciseAt = Number.NEGATIVE_INFINITY;
  /** Refill-rate measurements so far, and the time they cover. */
  private rateSamples = 0;
  private rateSpanMs = 0;
  /** Consecutive 429s since the last answer under 100 %: spaces out probes. */
  private strikes = 0;

  constructor(options: BudgetOptions, now: number) {
    this.name = options.name;
    this.capacity = options.capacity;
    this.ratePerMs = options.capacity / options.windowMs;
    this.target = options.target;
    this.batchUnits = Math.max(1, options.batchUnits);
    this.floor = 2 * this.batchUnits;
    this.initialWindow = Math.max(this.batchUnits, options.initialWindow ?? 3 * this.batchUnits);
    this.level = options.capacity;
    this.at = now;
    this.lastNewsAt = now;
  }

  /** Units the bucket is believed to hold now. */
  available(now: number): number {
    return Math.min(this.capacity, this.level + this.ratePerMs * Math.max(0, now - this.at));
  }

  /** Units kept in reserve once the bucket is known: (1 - target) of it. */
  margin(): number {
    return this.anchored ? (1 - this.target) * this.capacity : 0;
  }

  /** At most this many units of this budget in one batch (a quarter of a known bucket). */
  maxPerBatch(): number {
    return this.anchored ? Math.max(1, Math.floor(this.capacity / 4)) : Number.POSITIVE_INFINITY;
  }

  /** Slow start's window: units that may be in flight before the first reading. */
  private window(): number {
    return Math.max(this.initialWindow, SLOW_START_SHARE * this.clean);
  }

  /** Units that may be taken now without waiting. */
  room(now: number): number {
    if (now < this.pausedUntil) return 0;
    if (this.stale(now)) return 0;
    if (this.probeDue(now)) return Math.min(this.batchUnits, this.maxUsable());
    const byLevel = this.available(now) - this.margin();
    const byWindow = this.anchored ? Number.POSITIVE_INFINITY : this.window() - this.inFlight;
    return Math.max(0, Math.min(byLevel, byWindow));
  }

  /**
   * Milliseconds until `units` may be taken; Infinity when only answers can make room (slow start
   * waiting for units in flight: the engine wakes up on every answer anyway).
   */
  waitFor(units: number, now: number): number {
    const need = Math.min(units, this.maxUsable());
    if (now < this.pausedUntil) return this.pausedUntil - now + this.waitFor(units, this.pausedUntil);
    if (!this.anchored && this.inFlight > 0 && this.window() - this.inFlight < need) return Number.POSITIVE_INFINITY;
    if (this.stale(now)) return Number.POSITIVE_INFINITY;
    const deficit = need + this.margin() - this.available(now);
    if (deficit <= 0) return 0;
    const wait = deficit / Math.max(this.ratePerMs, 1e-9);
    const probeAt = this.probeAt();
    return probeAt === undefined ? wait : Math.max(0, Math.min(wait, probeAt - now));
  }

  /**
   * Nothing on the wire and no news for a while: the picture may be too gloomy (a refill rate
   * learned low). One batch goes as a probe and its answer re-anchors the level. Probes after 429s
   * are spaced out (1, 2, 4, 8, 16 s).
   */
  private probeAt(): number | undefined {
    if (!this.anchored || this.inFlight > 0) return undefined;
    return this.lastNewsAt + Math.min(16_000, 1_000 * 2 ** this.strikes);
  }

  /**
   * The refill rate is still a guess (readings have measured it over less than 3 s), something is on the
   * wire, and the level has been extrapolated by more than a quarter of the bucket since Graph last
   * gave a percentage: wait for the answers before sending more, rather than pile up on the guess.
   */
  private stale(now: number): boolean {
    return this.anchored && this.rateSpanMs < 3000 && this.inFlight > 0 && this.ratePerMs * Math.max(0, now - this.lastPreciseAt) > 0.25 * this.capacity;
  }

  private probeDue(now: number): boolean {
    const at = this.probeAt();
    return at !== undefined && now >= at && now >= this.pausedUntil;
  }

  /** The most one batch can ever ask for (so a batch bigger than the usable bucket still goes, alone). */
  private maxUsable(): number {
    return Math.max(1, this.capacity - this.margin());
  }

  /** True when `units` fit now. */
  fits(units: number, now: number): boolean {
    return this.waitFor(units, now) === 0;
  }

  /** Takes `units` for a batch about to be sent; returns the mark its readings will carry. */
  take(units: number, now: number): number {
    this.level = this.available(now) - units;
    this.at = now;
    this.spent += units;
    this.inFlight += units;
    this.firstSpendAt ??= now;
    return this.spent;
  }

  /**
   * The answer came: `taken` units were taken for it, `charged` were actually charged (sub-requests
   * throttled, faulted or left unanswered cost nothing). `readingless` is how many charged units came
   * back with no percentage reading (slow start grows by them).
   */
  settle(taken: number, charged: number, readingless: number, now: number): void {
    this.inFlight = Math.max(0, this.inFlight - taken);
    this.charged += charged;
    const refund = taken - charged;
    if (refund !== 0) {
      this.level = Math.min(this.capacity, this.available(now) + refund);
      this.at = now;
      this.spent -= refund;
    }
    if (!this.anchored) this.clean += readingless;
  }

  /** Graph reported no percentage: more than 20 % of the bucket was left when it charged. */
  observeUnder(reading: BudgetReading, now: number): void {
    this.news(reading.at, false);
    if (!this.anchored) {
      // Spent more than 80 % of the believed size with no reading: the bucket is bigger.
      const net = reading.mark - this.ratePerMs * Math.max(0, reading.at - (this.firstSpendAt ?? reading.at));
      if (net > REPORTING_THRESHOLD * this.capacity) this.grow(net / REPORTING_THRESHOLD);
    }
    if (reading.at < this.anchorAt) return;
    const atLeast = (1 - REPORTING_THRESHOLD) * this.capacity + this.ratePerMs * Math.max(0, now - reading.at) - (this.spent - reading.mark);
    const current = this.available(now);
    if (atLeast > current) {
      this.level = Math.min(this.capacity, atLeast);
      this.at = now;
    }
  }

  /** Graph reported `u` (share used, 0.8..1.8) for this budget when it charged the reading's request. */
  observe(u: number, reading: BudgetReading, now: number): void {
    this.news(reading.at, u >= 1);
    this.lastPreciseAt = Math.max(this.lastPreciseAt, reading.at);
    if (!this.anchored) {
      // First reading: the bucket was full when we started (best guess), so its size is about what
      // we spent over the share reported (refill during the ramp-up is small, and the rate is not
      // known yet). Only believed when enough was spent to say so.
      if (reading.mark >= this.floor && u > 0) this.resize(reading.mark / u);
      this.anchored = true;
    }
    this.learnRate(u, reading);
    this.anchor(this.capacity * (1 - u), reading, now);
  }

  /**
   * Readings of several sub-requests of one batch, charged one after the other: the share rose by
   * `du` over `units` units, so the bucket holds about units / du. Accumulated over batches (the
   * percentages are rounded to hundredths).
   */
  observeSpread(units: number, du: number): void {
    if (units <= 0 || du < 0) return;
    this.spread.units += units;
    this.spread.du += du;
    if (this.spread.du >= 0.2) this.resize(this.spread.units / this.spread.du);
  }

  /**
   * A 429 for this budget: pause until Retry-After; the level at what the reading says; the learned
   * rate cut when Graph said which budget ran out (`evidence`): a bare 429 (a fault, another layer)
   * only pauses.
   */
  throttled(retryAfterMs: number, u: number | undefined, cost: number, reading: BudgetReading, now: number, evidence: boolean): void {
    this.pausedUntil = Math.max(this.pausedUntil, now + retryAfterMs);
    this.news(reading.at, true);
    if (u !== undefined) this.lastPreciseAt = Math.max(this.lastPreciseAt, reading.at);
    if (u !== undefined && u > 0) {
      if (!this.anchored) this.observe(Math.min(u, 1), reading, now);
      // On a 429 the share is what it would have reached: the bucket held (1 - u) * C + cost.
      this.anchor(this.capacity * (1 - u) + cost, reading, now);
    } else if (evidence) {
      this.level = Math.min(this.level, 0);
      this.at = now;
    }
    if (evidence && now - this.lastCutAt >= 1000) {
      this.ratePerMs *= 0.85;
      this.lastCutAt = now;
    }
    // Retry-After is when enough has come back: (u - 1) of the bucket refilled within it, at least.
    if (u !== undefined && u > 1 && retryAfterMs > 0) this.ratePerMs = Math.max(this.ratePerMs, (this.capacity * (u - 1)) / retryAfterMs);
  }

  private news(at: number, bad: boolean): void {
    // One batch's answers are one piece of news, however many of its sub-requests were throttled.
    const fresh = at > this.lastNewsAt;
    this.lastNewsAt = Math.max(this.lastNewsAt, at);
    if (!bad) this.strikes = 0;
    else if (fresh) this.strikes = Math.min(this.strikes + 1, 4);
  }

  private anchor(levelAtReading: number, reading: BudgetReading, now: number): void {
    if (reading.at < this.anchorAt) return;
    this.anchorAt = reading.at;
    const refill = this.ratePerMs * Math.max(0, now - reading.at);
    this.level = Math.min(this.capacity, levelAtReading + refill) - Math.max(0, this.spent - reading.mark);
    this.at = now;
  }

  /**
   * Refill rate from two readings: what Graph charged between them (answers settled in between:
   * throttled sub-requests cost nothing), less what the level fell.
   */
  private learnRate(u: number, reading: BudgetReading): void {
    const last = this.lastReading;
    if (!last || reading.at < last.at) {
      this.lastReading ??= { at: reading.at, u, charged: this.charged };
      return;
    }
    const dt = reading.at - last.at;
    const charged = this.charged - last.charged;
    // Far enough apart that the rounding of the percentages (hundredths) does not dominate.
    if (dt < 250 || (dt < 1000 && charged < 0.05 * this.capacity)) return;
    const sample = (charged - this.capacity * (u - last.u)) / dt;
    if (sample > 0 && Number.isFinite(sample)) {
      // The first measurement mostly replaces the documented guess; later ones average over ~1.5 s.
      const weight = this.rateSamples === 0 ? 0.75 : 1 - Math.exp(-dt / 1500);
      this.ratePerMs += weight * (sample - this.ratePerMs);
      this.rateSamples++;
      this.rateSpanMs += dt;
    }
    this.lastReading = { at: reading.at, u, charged: this.charged };
  }

  private grow(capacity: number): void {
    const factor = capacity / this.capacity;
    this.capacity = capacity;
    this.ratePerMs *= factor;
  }

  /** A new size estimate (the refill rate is learned separately). */
  private resize(estimate: number): void {
    const capacity = Math.max(this.floor, estimate);
    const ratio = capacity / this.capacity;
    this.capacity = capacity;
    // The level is a share of the bucket: keep the share.
    this.level *= ratio;
  }

  /** For stats and events. */
  snapshot(): { capacity: number; perSecond: number; anchored: boolean } {
    return { capacity: this.capacity, perSecond: this.ratePerMs * 1000, anchored: this.anchored };
  }
}
