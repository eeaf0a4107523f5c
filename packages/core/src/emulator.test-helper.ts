/**
 * The emulator for core's tests over real HTTPS. It is imported from its source by a computed path,
 * so core's TypeScript project does not take in another package's files (and core does not depend
 * on the emulator, which depends on core); this is the part of its RunningEmulator core's tests use.
 */
import { createGraphClient } from "./transport/graph-client.js";
import type { GraphClient, GraphClientOptions } from "./transport/types.js";

export type EmulatorState = "disabled" | "enabled" | "enforced";

export interface TestEmulator {
  authorityHost: string;
  graphUrl: string;
  caPem: string;
  clientId: string;
  clientSecret: string;
  certificateFile: string;
  tenants: { id: string; domain: string; userCount: number }[];
  admin: {
    listUsers(tenant: string): { id: string; userPrincipalName: string; perUserMfaState: EmulatorState; patchCount: number }[];
    getUser(tenant: string, idOrUpn: string): { id: string; userPrincipalName: string; displayName: string; userType: "Member" | "Guest"; perUserMfaState: EmulatorState; patchCount: number; roles: string[] };
    listGroups(tenant: string): { id: string; displayName: string; memberIds: string[]; memberGroupIds: string[] }[];
    setUsers(tenant: string, patch: { perUserMfaState: EmulatorState; users?: string[] }): number;
    stats(): { throttledTotal: number; faultsInjected: number; requests: number; batches: number };
    addFaults(rules: { method?: string; pathIncludes?: string; tenant?: string; status?: number; count: number }[]): void;
    revokeConsent(clientId: string, tenant: string): void;
    reset(): void;
    resetStats(): void;
  };
  close(): Promise<void>;
}

const EMULATOR_MODULE = "../../emulator/src/index.js";

/** Starts the emulator in this process (options as `startEmulator`'s: tenants, users, seed, throttle, latencyMs, ...). */
export async function startTestEmulator(options: Record<string, unknown>): Promise<TestEmulator> {
  const { startEmulator } = (await import(/* @vite-ignore */ EMULATOR_MODULE)) as { startEmulator: (options: Record<string, unknown>) => Promise<TestEmulator> };
  return startEmulator(options);
}

/** A Graph client for the emulator's main app (its secret, its CA), with more options when given. */
export function emulatorGraphClient(emu: TestEmulator, more: Partial<GraphClientOptions> = {}): GraphClient {
  return createGraphClient({
    clientId: emu.clientId,
    credential: { kind: "secret", clientSecret: emu.clientSecret },
    authorityHost: emu.authorityHost,
    graphUrl: emu.graphUrl,
    caPem: emu.caPem,
    ...more,
  });
}
