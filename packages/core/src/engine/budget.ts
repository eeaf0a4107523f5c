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
 *
 * Other instances of the app may draw on the same bucket (shared budgets): what they took is debited
 * as it is learned (`foreign`), their rate is predicted in between, and until the bucket is known the
 * budget is more careful (`beside`). Alone, none of that applies and nothing changes.
 */

/**
 * Slow start: units in flight may reach this share of the units answered cleanly so far (at least the
 * initial window). Graph reports from 80 % on, so when the first reading comes after 0.8 of the bucket was
 * answered, what is in flight (0.25 x 0.8 = 0.2 of it) still fits in the 20 % left. The window grows
 * by a quarter per round trip.
 */
const SLOW_START_SHARE = 0.25;

/** The others' rate (shared budgets) follows what they took over about this long, ms. */
const FOREIGN_RATE_MS = 1_000;

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
  /**
   * Other instances may draw on this bucket too (shared budgets): from the start the budget is as
   * careful as beside them (slow start from a quarter of a batch, as the bucket may not be full).
   */
  shared?: boolean | undefined;
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
  /** Units other instances sharing the bucket took, as far as we know (`foreign`); not in `spent`. */
  foreignSpent = 0;
  /** How fast the other instances have been taking, units per ms: the refill left to us is the rest. */
  foreignPerMs = 0;
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
  /** When the others' spending was last counted (`foreign`, `foreignFrom`). */
  private foreignAt: number | undefined;
  /** Other instances may take from this bucket (configured so, or they have): see `beside`. */
  private othersSeen = false;
  /** The others' recent units (slow start counts them as on the wire for two round trips). */
  private foreignRecent: { at: number; units: number }[] = [];
  /** Our round trips (take to answer), averaged; a second until one is seen. */
  private roundTripMs = 1_000;
  private roundTrips = 0;
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
    this.othersSeen = options.shared === true;
  }

  /** Units the bucket is believed to hold now. */
  available(now: number): number {
    return Math.min(this.capacity, this.level + this.netRate() * Math.max(0, now - this.at));
  }

  /**
   * The refill left to us once the other instances have taken theirs (all of it when alone). At
   * least a tenth of it: the readings say when the others leave less.
   */
  private netRate(): number {
    return this.foreignPerMs > 0 ? Math.max(this.ratePerMs - this.foreignPerMs, 0.1 * this.ratePerMs) : this.ratePerMs;
  }

  /** Units kept in reserve once the bucket is known: (1 - target) of it. */
  margin(): number {
    return this.anchored ? (1 - this.target) * this.capacity : 0;
  }

  /**
   * At most this many units of this budget in one batch: a quarter of a known bucket; in slow start
   * beside other instances, what the window leaves.
   */
  maxPerBatch(now?: number): number {
    if (this.anchored) {
      const cap = Math.max(1, Math.floor(this.capacity / 4));
      if (now !== undefined && this.guessing(now)) return Math.min(cap, this.quarterBatch());
      // A probe beside other instances is small (see room).
      if (!this.beside() || now === undefined || !this.probeDue(now)) return cap;
      return Math.min(cap, Math.max(this.quarterBatch(), Math.floor(this.available(now) - this.margin())));
    }
    return this.beside() && now !== undefined ? Math.max(1, Math.floor(this.windowRoom(now))) : Number.POSITIVE_INFINITY;
  }

  /** Slow start's window: units that may be in flight before the first reading. */
  private window(): number {
    // Beside other instances the bucket may not be full: start from a quarter of a batch, doubling
    // with every round trip answered cleanly up to the usual initial window.
    const initial = this.beside() ? Math.min(this.initialWindow, this.quarterBatch() + this.clean) : this.initialWindow;
    return Math.max(initial, SLOW_START_SHARE * this.clean);
  }

  private quarterBatch(): number {
    return Math.max(1, Math.ceil(this.batchUnits / 4));
  }

  /**
   * What slow start's window leaves. The others' units taken within two of our round trips are taken
   * to be on the wire too, so instances starting together keep to about one window. When none of ours
   * is on the wire one batch may go (a quarter of one beside other instances), whatever the others have out.
   */
  private windowRoom(now: number): number {
    if (!this.beside()) return this.window() - this.inFlight;
    const free = this.window() - this.inFlight - this.foreignInFlight(now);
    return this.inFlight === 0 ? Math.max(free, this.quarterBatch()) : free;
  }

  /**
   * Units the others took within two of our round trips (as the store told us): what they have on
   * the wire, or what they will send again as their answers come in.
   */
  private foreignInFlight(now: number): number {
    let units = 0;
    for (const r of this.foreignRecent) if (r.at > now - 2 * this.roundTripMs) units += r.units;
    return units;
  }

  /** Units that may be taken now without waiting. */
  room(now: number): number {
    if (now < this.pausedUntil) return 0;
    if (this.stale(now)) return 0;
    // Beside other instances a probe is small: it may land right after one of theirs.
    if (this.probeDue(now)) return Math.min(this.beside() ? this.quarterBatch() : this.batchUnits, this.maxUsable());
    const byLevel = this.available(now) - this.margin();
    const byWindow = this.anchored ? (this.guessing(now) ? this.quarterBatch() : Number.POSITIVE_INFINITY) : this.windowRoom(now);
    return Math.max(0, Math.min(byLevel, byWindow));
  }

  /**
   * Milliseconds until `units` may be taken; Infinity when only answers can make room (slow start
   * waiting for units in flight: the engine wakes up on every answer anyway).
   */
  waitFor(units: number, now: number): number {
    const need = Math.min(units, this.maxUsable());
    if (now < this.pausedUntil) return this.pausedUntil - now + this.waitFor(units, this.pausedUntil);
    if (!this.anchored && this.inFlight > 0 && this.windowRoom(now) < need) return Number.POSITIVE_INFINITY;
    if (this.stale(now)) return Number.POSITIVE_INFINITY;
    const deficit = need + this.margin() - this.available(now);
    if (deficit <= 0) return 0;
    const wait = deficit / Math.max(this.netRate(), 1e-9);
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
    if (this.inFlight > 0 && this.guessing(now)) return true;
    return this.anchored && this.rateSpanMs < 3000 && this.inFlight > 0 && this.netRate() * Math.max(0, now - this.lastPreciseAt) > 0.25 * this.capacity;
  }

  /**
   * Beside other instances our readings are further apart and theirs land in between: with the refill
   * rate still a guess and the bucket last seen over 80 %, past a tenth of it extrapolated since that
   * percentage only a quarter of a batch goes (for a fresh reading), and only when nothing of ours is out.
   */
  private guessing(now: number): boolean {
    if (!this.beside() || !this.anchored || this.rateSpanMs >= 3000 || this.lastPreciseAt < this.lastNewsAt) return false;
    return this.netRate() * Math.max(0, now - this.lastPreciseAt) > 0.1 * this.capacity;
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
   * The other instances sharing this bucket took `units` since the last call (learned through a
   * SharedBudgetStore). What `foreignPerMs` predicted has been drained from the level already, only
   * the difference is debited; the prediction follows what they took (over about a second). The units
   * count as charged: two readings apart measure the refill from everything Graph charged in between,
   * and without the others' units the rate learned would be too low.
   */
  foreign(units: number, now: number): void {
    const since = this.foreignAt;
    this.foreignAt = now;
    if (!(units >= 0) || !Number.isFinite(units)) return;
    const elapsed = since === undefined ? 0 : Math.max(0, now - since);
    const drained = (this.ratePerMs - this.netRate()) * elapsed;
    // Less than predicted is not given back (the refill rate may still be a guess). While the bucket
    // is paused nobody takes from it, but the others will take their share when it ends: the
    // prediction is not lowered for that.
    const paused = since !== undefined && since < this.pausedUntil;
    const surprise = Math.max(0, units - drained);
    this.level = Math.min(this.capacity, this.available(now) - surprise);
    this.at = now;
    this.charged += units;
    this.foreignSpent += units;
    if (units > 0) {
      this.firstSpendAt ??= now;
      this.foreignRecent = this.foreignRecent.filter((r) => r.at > now - 2 * this.roundTripMs);
      this.foreignRecent.push({ at: now, units });
    }
    if (elapsed > 0 && !paused) this.foreignPerMs += (1 - Math.exp(-elapsed / FOREIGN_RATE_MS)) * (units / elapsed - this.foreignPerMs);
  }

  /**
   * The others' spending is counted from now on (what they took before is not known, or long
   * refilled). `othersSeen`: they have taken from this bucket before (when, is not known): from now
   * on, be as careful as beside them.
   */
  foreignFrom(now: number, othersSeen = false): void {
    this.foreignAt = now;
    if (othersSeen) this.othersSeen = true;
  }

  /** Other instances take from this bucket too (or have). */
  private beside(): boolean {
    return this.foreignSpent > 0 || this.othersSeen;
  }

  /** Another instance was told 429 for this bucket: new work waits until `until` too. */
  pause(until: number): void {
    if (Number.isFinite(until)) this.pausedUntil = Math.max(this.pausedUntil, until);
  }

  /**
   * The answer came: `taken` units were taken for it, `charged` were actually charged (sub-requests
   * throttled, faulted or left unanswered cost nothing). `readingless` is how many charged units came
   * back with no percentage reading (slow start grows by them).
   */
  settle(taken: number, charged: number, readingless: number, now: number, sentAt = now): void {
    if (now > sentAt) {
      this.roundTripMs = this.roundTrips === 0 ? now - sentAt : this.roundTripMs + 0.2 * (now - sentAt - this.roundTripMs);
      this.roundTrips++;
    }
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
    const atLeast = (1 - REPORTING_THRESHOLD) * this.capacity + this.netRate() * Math.max(0, now - reading.at) - (this.spent - reading.mark);
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
      // known yet). Only believed when enough was spent to say so. Instances sharing the bucket each
      // find it smaller than it is (what the others took is not all known yet, some is still on the
      // wire): on the safe side, and the spread of later readings corrects it.
      const sized = reading.mark >= this.floor && u > 0;
      if (sized) this.resize(reading.mark / u);
      // Beside other instances a reading after too little of ours says nothing of the size (the
      // documented one would stay, far off): slow start goes on until one does.
      if (sized || !this.beside()) this.anchored = true;
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
    // Beside other instances the first size (what we spent over the share) may be far off either way
    // (theirs not counted, refill during a slow ramp counted): a rough spread may shrink it at once
    // (3 rounding steps or more: within about a third), never grow it.
    else if (this.beside() && this.spread.du >= 0.03 && this.spread.units / this.spread.du < this.capacity) this.resize(this.spread.units / this.spread.du);
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
    const refill = this.netRate() * Math.max(0, now - reading.at);
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
