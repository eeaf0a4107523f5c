import { createWriteStream, type WriteStream } from "node:fs";
import { once } from "node:events";
import { UsageError } from "@mfactl/core";

/** Where a command's result goes: a file given with --out (with backpressure), or stdout. */
export interface Sink {
  write(text: string): Promise<void>;
  /** The underlying stream, for writers that want a Node Writable (a file), if any. */
  readonly stream: WriteStream | undefined;
  close(): Promise<void>;
}

export async function openSink(path: string | undefined, stdout: { write(text: string): void }): Promise<Sink> {
  if (path === undefined) {
    return { stream: undefined, write: async (text) => stdout.write(text), close: async () => undefined };
  }
  const stream = createWriteStream(path, { flags: "w" });
  try {
    await once(stream, "open");
  } catch (error) {
    throw new UsageError(`Cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
  }
  return {
    stream,
    async write(text) {
      if (!stream.write(text)) await once(stream, "drain");
    },
    async close() {
      stream.end();
      await once(stream, "finish");
    },
  };
}
