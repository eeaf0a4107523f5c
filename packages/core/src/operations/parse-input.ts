import type { z } from "zod";
import { UsageError } from "../domain/errors.js";

/** Validate an operation's input with its schema; every problem becomes one UsageError naming the fields. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const messages = result.error.issues.map((issue) => {
    const field = issue.path.join(".");
    // Our own refinements already name the value; zod's generic ones need the field.
    return issue.code === "custom" || !field ? issue.message : `${field}: ${issue.message}`;
  });
  throw new UsageError([...new Set(messages)].join(" "));
}
