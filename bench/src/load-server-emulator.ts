/**
 * The emulator of `npm run load`, in-process: on a worker thread of its own by default (so that
 * Graph's side of the work does not take the server's event loop, as it would not in production),
 * or on the main thread with the server (`--emulator-thread main`). Either way the load test reads
 * the emulator directly through `emu.admin`, here made asynchronous (a message to the worker).
 */
import { parentPort, Worker, workerData } from "node:worker_threads";
import { startEmulator, type EmulatorAdmin, type EmulatorOptions, type RunningEmulator } from "@mfactl/emulator";

/** What the server and the clients need to know about the emulator. */
export interface EmulatorFacts {
  authorityHost: string;
  graphUrl: string;
  caPem: string;
  clientId: string;
  clientSecret: string;
  apiApp: RunningEmulator["apiApp"];
  apiCallers: RunningEmulator["apiCallers"];
  tenants: RunningEmulator["tenants"];
}

type AdminMethod = "listUsers" | "getUser" | "listRoleAssignments" | "stats" | "resetStats";
export type AsyncAdmin = { [K in AdminMethod]: (...args: Parameters<EmulatorAdmin[K]>) => Promise<ReturnType<EmulatorAdmin[K]>> };

export interface EmulatorHandle {
  facts: EmulatorFacts;
  admin: AsyncAdmin;
  /** Where it runs. */
  thread: "main" | "worker";
  /** Its thread's event-loop utilization since the last call (undefined on the main thread). */
  utilization(): number | undefined;
  close(): Promise<void>;
}

interface WorkerData {
  role: "emulator";
  options: EmulatorOptions;
}

type Request = { id: number; method: AdminMethod; args: unknown[] } | { id: number; method: "close" };
type Reply = { type: "ready"; facts: EmulatorFacts } | { type: "reply"; id: number; result?: unknown; error?: string } | { type: "failed"; error: string };

function factsOf(emu: RunningEmulator): EmulatorFacts {
  return {
    authorityHost: emu.authorityHost,
    graphUrl: emu.graphUrl,
    caPem: emu.caPem,
    clientId: emu.clientId,
    clientSecret: emu.clientSecret,
    apiApp: emu.apiApp,
    apiCallers: emu.apiCallers,
    tenants: emu.tenants,
  };
}

const METHODS: readonly AdminMethod[] = ["listUsers", "getUser", "listRoleAssignments", "stats", "resetStats"];

function callAdmin(admin: EmulatorAdmin, method: AdminMethod, args: unknown[]): unknown {
  return (admin[method] as (...a: unknown[]) => unknown)(...args);
}

export async function startEmulatorThread(options: EmulatorOptions, thread: "main" | "worker"): Promise<EmulatorHandle> {
  if (thread === "main") {
    const emu = await startEmulator(options);
    const admin = Object.fromEntries(METHODS.map((m) => [m, (...args: unknown[]) => Promise.resolve(callAdmin(emu.admin, m, args))])) as AsyncAdmin;
    return { facts: factsOf(emu), admin, thread, utilization: () => undefined, close: () => emu.close() };
  }
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: "emulator", options } satisfies WorkerData });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let next = 0;
  const facts = await new Promise<EmulatorFacts>((resolve, reject) => {
    worker.on("message", (m: Reply) => {
      if (m.type === "ready") resolve(m.facts);
      else if (m.type === "failed") reject(new Error(`the emulator did not start: ${m.error}`));
      else {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (m.error !== undefined) p?.reject(new Error(m.error));
        else p?.resolve(m.result);
      }
    });
    worker.on("error", (e) => {
      reject(e);
      for (const p of pending.values()) p.reject(e);
    });
  });
  const call = (request: { method: AdminMethod; args: unknown[] } | { method: "close" }) =>
    new Promise<unknown>((resolve, reject) => {
      const id = ++next;
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...request, id });
    });
  const admin = Object.fromEntries(METHODS.map((m) => [m, (...args: unknown[]) => call({ method: m, args })])) as AsyncAdmin;
  let closed: Promise<void> | undefined;
  let elu = worker.performance.eventLoopUtilization();
  return {
    facts,
    admin,
    thread,
    utilization: () => {
      const now = worker.performance.eventLoopUtilization();
      const since = worker.performance.eventLoopUtilization(now, elu);
      elu = now;
      return since.utilization;
    },
    close: () =>
      (closed ??= (async () => {
        await call({ method: "close" });
        await worker.terminate();
      })()),
  };
}

async function serve(): Promise<void> {
  const port = parentPort!;
  let emu: RunningEmulator;
  try {
    emu = await startEmulator((workerData as WorkerData).options);
  } catch (error) {
    port.postMessage({ type: "failed", error: error instanceof Error ? error.message : String(error) } satisfies Reply);
    return;
  }
  port.on("message", (m: Request) => {
    void (async () => {
      try {
        const result = m.method === "close" ? await emu.close() : callAdmin(emu.admin, m.method, m.args);
        port.postMessage({ type: "reply", id: m.id, result } satisfies Reply);
      } catch (error) {
        port.postMessage({ type: "reply", id: m.id, error: error instanceof Error ? error.message : String(error) } satisfies Reply);
      }
    })();
  });
  port.postMessage({ type: "ready", facts: factsOf(emu) } satisfies Reply);
}

// The worker's entry point (the main thread imports this module too, where parentPort is null).
if (parentPort && (workerData as WorkerData | undefined)?.role === "emulator") void serve();
