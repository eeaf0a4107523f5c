/** Exit codes shared by every command (DEVELOPERS.md). */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  drift: 3,
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
