/**
 * Graph's throttling budgets belong to an app in a tenant, not to a process: several mfactl
 * instances calling one tenant draw on one budget. An engine given a SharedBudgetStore tells it what
 * it took and learns what the others took, so together they stay within what one tenant allows.
 */
export interface SharedBudgetStore {
  /**
   * Adds `taken` units (this instance's, since its last call for `key`) to the budget named `key`,
   * raises its pause to `pausedUntil` (epoch ms, 0 for none), and returns what every instance has
   * taken from it so far and the pause now in force. Atomic across instances.
   */
  exchange(key: string, taken: number, pausedUntil: number): Promise<{ totalTaken: number; pausedUntil: number }>;
}

/** In one process (tests, several engines side by side). */
export function memorySharedBudgets(): SharedBudgetStore {
  const rows = new Map<string, { taken: number; pausedUntil: number }>();
  return {
    exchange(key, taken, pausedUntil) {
      const row = rows.get(key) ?? { taken: 0, pausedUntil: 0 };
      row.taken += taken;
      row.pausedUntil = Math.max(row.pausedUntil, pausedUntil);
      rows.set(key, row);
      return Promise.resolve({ totalTaken: row.taken, pausedUntil: row.pausedUntil });
    },
  };
}
