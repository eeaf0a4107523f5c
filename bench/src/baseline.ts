/**
 * The straw man: what the published scripts do. One token, the user list, then one
 * `GET .../authentication/requirements` per user, one after the other. Plain undici fetch with the
 * emulator's CA; a 429 is waited out (Retry-After) so that throttling does not flatter mfactl.
 */
import { readFile } from "node:fs/promises";
import { rootCertificates } from "node:tls";
import { Agent, fetch } from "undici";
import type { EmulatorFacts } from "./emulator.js";

export interface BaselineRun {
  /** Users read one at a time (a sample of the tenant). */
  sampled: number;
  /** Seconds for the listing and for the sampled reads. */
  listSeconds: number;
  sampleSeconds: number;
  /** Seconds it would take for every user: listing + users x (sample time / sample). */
  seconds: number;
  usersPerSecond: number;
  wrong: number;
}

export async function runBaseline(facts: EmulatorFacts, tenant: string, users: number, sample: number, expected: Map<string, string>): Promise<BaselineRun> {
  const ca = await readFile(facts.caFile, "utf8");
  const dispatcher = new Agent({ connect: { ca: [...rootCertificates, ca] } });
  try {
    const tokenRes = await fetch(`${facts.authorityHost}/${tenant}/oauth2/v2.0/token`, {
      method: "POST",
      dispatcher,
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: facts.clientId, client_secret: facts.clientSecret, grant_type: "client_credentials", scope: "https://graph.microsoft.com/.default" }).toString(),
    });
    const { access_token: token } = (await tokenRes.json()) as { access_token: string };
    const get = async (url: string): Promise<unknown> => {
      for (;;) {
        const res = await fetch(url, { dispatcher, headers: { authorization: `Bearer ${token}` } });
        if (res.status === 429) {
          await res.text();
          await new Promise((r) => setTimeout(r, Number(res.headers.get("retry-after") ?? "1") * 1000));
          continue;
        }
        if (!res.ok) throw new Error(`baseline: ${res.status} for ${url}`);
        return res.json();
      }
    };
    const listStart = performance.now();
    const ids: string[] = [];
    let next: string | undefined = `${facts.graphUrl}/v1.0/users?$select=id,userPrincipalName&$top=999`;
    while (next) {
      const page = (await get(next)) as { value: { id: string }[]; "@odata.nextLink"?: string };
      for (const u of page.value) ids.push(u.id);
      next = page["@odata.nextLink"];
    }
    const listSeconds = (performance.now() - listStart) / 1000;
    const sampled = Math.min(sample, ids.length);
    let wrong = 0;
    const sampleStart = performance.now();
    for (const id of ids.slice(0, sampled)) {
      const body = (await get(`${facts.graphUrl}/beta/users/${id}/authentication/requirements`)) as { perUserMfaState?: string };
      if (body.perUserMfaState !== expected.get(id)) wrong++;
    }
    const sampleSeconds = (performance.now() - sampleStart) / 1000;
    const seconds = listSeconds + (users * sampleSeconds) / sampled;
    return { sampled, listSeconds, sampleSeconds, seconds, usersPerSecond: users / seconds, wrong };
  } finally {
    await dispatcher.close();
  }
}
