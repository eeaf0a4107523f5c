/** The emulator in its own process (node packages/emulator/dist/bin.js --json), driven through its admin interface. */
import { spawn, type ChildProcess } from "node:child_process";
import type { AdminUserState, EmulatorStats, RuntimeConfig, TenantSummary, ThrottleLimits } from "@mfactl/emulator";

export interface EmulatorFacts {
  authorityHost: string;
  graphUrl: string;
  adminUrl: string;
  caFile: string;
  clientId: string;
  clientSecret: string;
  tenants: TenantSummary[];
}

export class EmulatorProcess {
  private constructor(
    readonly facts: EmulatorFacts,
    private readonly child: ChildProcess,
  ) {}

  static async start(root: string, args: string[]): Promise<EmulatorProcess> {
    const child = spawn(process.execPath, [`${root}/packages/emulator/dist/bin.js`, "--json", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
    const facts = await new Promise<EmulatorFacts>((resolve, reject) => {
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString("utf8");
        const nl = out.indexOf("\n");
        if (nl >= 0) {
          try {
            resolve(JSON.parse(out.slice(0, nl)) as EmulatorFacts);
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
          }
        }
      });
      child.on("exit", (code) => reject(new Error(`the emulator exited (${String(code)}) before it was ready: ${err.trim()}`)));
    });
    return new EmulatorProcess(facts, child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGTERM");
    await exited;
  }

  private async admin<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.facts.adminUrl}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`emulator admin ${method} ${path}: ${res.status} ${text}`);
    return (text === "" ? undefined : JSON.parse(text)) as T;
  }

  /** Re-seeds (budgets full, counters cleared); the app's credentials follow the seed, which stays the same. */
  async seed(tenants: number, users: number, seed: string): Promise<TenantSummary[]> {
    return (await this.admin<{ tenants: TenantSummary[] }>("POST", "/seed", { tenants, users, seed })).tenants;
  }

  /** Users back to their seeded state, budgets full, counters cleared. */
  async reset(): Promise<void> {
    await this.admin("POST", "/reset");
  }

  async limits(limits: ThrottleLimits): Promise<RuntimeConfig> {
    return this.admin<RuntimeConfig>("PATCH", "/config", { throttleLimits: limits });
  }

  async users(tenant: string): Promise<AdminUserState[]> {
    return this.admin<AdminUserState[]>("GET", `/tenants/${encodeURIComponent(tenant)}/users`);
  }

  async setAll(tenant: string, perUserMfaState: "disabled" | "enabled" | "enforced"): Promise<void> {
    await this.admin("PATCH", `/tenants/${encodeURIComponent(tenant)}/users`, { perUserMfaState });
  }

  async stats(): Promise<EmulatorStats> {
    return this.admin<EmulatorStats>("GET", "/stats");
  }

  async resetStats(): Promise<void> {
    await this.admin("POST", "/stats/reset");
  }
}
