import PgBoss from "pg-boss";
import type { FastifyBaseLogger } from "fastify";
import { uuidFrom, type JobQueue } from "./jobs.js";

/** The one queue mfactl's jobs go through. */
export const QUEUE_NAME = "mfactl-jobs";

export interface PgBossQueueOptions {
  connectionString: string;
  /** pg-boss keeps its tables in this schema (created when missing). */
  schema: string;
  /** Jobs carried out at once by this instance. */
  concurrency: number;
  /** How often an idle worker asks for a job (pg-boss's minimum is 0.5 s). */
  pollSeconds: number;
}

/**
 * pg-boss as the cluster's queue: a message per job (its id only: the job itself is in the store),
 * taken by one instance at a time (SKIP LOCKED). pg-boss retries a handler that throws; an instance
 * that dies mid-job is noticed by the job's lease in the store, not by pg-boss's expiry (hours, so
 * that long jobs are never given to a second instance while the first still works).
 */
export function pgBossQueue(options: PgBossQueueOptions, log: FastifyBaseLogger): JobQueue {
  const boss = new PgBoss({
    connectionString: options.connectionString,
    schema: options.schema,
    application_name: "mfactl-queue",
    max: Math.max(2, options.concurrency + 1),
    // mfactl's schedules fire through its own scheduler (second precision, one firing per period by a unique key).
    schedule: false,
  });
  boss.on("error", (error) => log.warn({ err: error }, "job queue (pg-boss) error"));
  const workers: string[] = [];
  let started = false;
  let paused = false;
  return {
    async start(handler) {
      await boss.start();
      started = true;
      await boss.createQueue(QUEUE_NAME, { name: QUEUE_NAME, retryLimit: 5, retryDelay: 1, expireInHours: 23 });
      for (let i = 0; i < options.concurrency; i++) {
        workers.push(
          await boss.work<{ jobId: string }>(QUEUE_NAME, { batchSize: 1, pollingIntervalSeconds: options.pollSeconds }, async ([job]) => {
            if (job) await handler(job.data.jobId);
          }),
        );
      }
    },
    async send(jobId, slot) {
      await boss.send(QUEUE_NAME, { jobId }, { id: uuidFrom(`${jobId}:${slot}`), retryLimit: 5, retryDelay: 1, expireInHours: 23 });
      // A worker of this instance that is idle looks now rather than at its next poll.
      if (!paused) for (const w of workers) boss.notifyWorker(w);
    },
    async pause() {
      paused = true;
      if (started) await boss.offWork(QUEUE_NAME);
    },
    async stop(graceMs) {
      if (!started) return;
      started = false;
      await boss.stop({ graceful: true, wait: true, timeout: Math.max(1000, graceMs) });
    },
  };
}

/**
 * pg-boss's schema beside the store's: `<the connection's current schema>_queue` (the store's schema
 * comes from the URL's search_path, or is `public`).
 */
export async function defaultQueueSchema(connectionString: string): Promise<string> {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString, application_name: "mfactl", connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ schema: string | null }>("select current_schema() as schema");
    return `${rows[0]?.schema ?? "public"}_queue`;
  } finally {
    await client.end();
  }
}
