/**
 * Last line of defence: whatever reaches stdout or stderr has known secrets and anything
 * shaped like a bearer token or JWT replaced. Errors are already built without secrets.
 */
const JWT = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const BEARER = /(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi;

export function createRedactor(secrets: readonly string[]): (text: string) => string {
  const known = secrets.filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text.replace(JWT, "[redacted token]").replace(BEARER, "$1[redacted]");
    for (const secret of known) out = out.split(secret).join("[redacted]");
    return out;
  };
}

export interface RedactingWriter {
  write(text: string): void;
  /** Add secrets learned after start (for example from a profile). */
  addSecrets(secrets: readonly string[]): void;
}

export function redactingWriter(stream: { write(chunk: string): unknown }, initial: readonly string[] = []): RedactingWriter {
  const secrets = [...initial];
  let redact = createRedactor(secrets);
  return {
    write(text) {
      stream.write(redact(text));
    },
    addSecrets(more) {
      secrets.push(...more);
      redact = createRedactor(secrets);
    },
  };
}
