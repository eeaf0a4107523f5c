/** The addresses the emulator answers to: 127.0.0.1 is canonical, localhost and [::1] are aliases. */

export const GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000";
export const PUBLIC_GRAPH = "https://graph.microsoft.com";
export const PUBLIC_LOGIN = "https://login.microsoftonline.com";

export class Endpoints {
  /** Set once the HTTPS server listens (port 0 means "pick one"). */
  constructor(public port: number) {}

  get authorityHost(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get graphUrl(): string {
    return `${this.authorityHost}/graph`;
  }

  /** The emulated CIPP instance: its API lives at /cipp/api/<Endpoint>. */
  get cippUrl(): string {
    return `${this.authorityHost}/cipp`;
  }

  /** Every origin the server certificate covers. */
  origins(): string[] {
    return [`https://127.0.0.1:${this.port}`, `https://localhost:${this.port}`, `https://[::1]:${this.port}`];
  }

  /** Links (discovery, nextLink) use the host the client used, so issuer checks and paging work for either name. */
  originFor(hostHeader: string | undefined): string {
    const host = (hostHeader ?? "").toLowerCase();
    const origin = `https://${host}`;
    return this.origins().includes(origin) ? origin : this.authorityHost;
  }

  /** `aud` values Graph accepts on a bearer token; also the resources a `scope` may name before "/.default". */
  graphAudiences(): string[] {
    return [...this.origins().map((o) => `${o}/graph`), PUBLIC_GRAPH, GRAPH_APP_ID];
  }
}
