import { hostname, userInfo } from "node:os";
import { Command, Option } from "commander";
import { API_SCOPES, type ApiKeyRecord } from "@mfactl/core";
import { createApiKey } from "@mfactl/server";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { OUTPUT_FORMATS, renderJson, renderTable, type OutputFormat } from "../output.js";
import type { CommandRunner } from "./types.js";

const KEY_COLUMNS = [
  { header: "NAME", value: (k: ApiKeyRecord) => k.name },
  { header: "KEY ID", value: (k: ApiKeyRecord) => k.keyId },
  { header: "SCOPES", value: (k: ApiKeyRecord) => k.scopes.join(",") },
  { header: "TENANTS", value: (k: ApiKeyRecord) => (k.tenants ? k.tenants.join(",") : "(all served)") },
  { header: "CREATED", value: (k: ApiKeyRecord) => k.createdAt },
  { header: "LAST USED", value: (k: ApiKeyRecord) => k.lastUsedAt ?? "" },
  { header: "REVOKED", value: (k: ApiKeyRecord) => k.revokedAt ?? "" },
];

/** Who runs `mfactl apikey` (or `schedule`): the audit log's actor for what the CLI changes in the store. */
export function cliActor(): string {
  let user = "unknown";
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): the host still says where.
  }
  return `cli:${user}@${hostname()}`;
}

export function apikeyCommand(run: CommandRunner): Command {
  const cmd = new Command("apikey")
    .summary("create, list and revoke the API keys of `mfactl serve`")
    .description("API keys for `mfactl serve`, kept in the database (--db) hashed: a key is shown once, when it is created.");

  cmd
    .command("create")
    .summary("create a key and print it once")
    .requiredOption("--name <name>", "unique among live keys; the journal names changes made with it apikey:<name>")
    .requiredOption("--scope <scopes>", `comma-separated: ${API_SCOPES.join(", ")} (admin includes write, write includes read)`)
    .option("--tenant <tenants>", "comma-separated tenant ids or domains the key may touch (default: every tenant served)")
    .addOption(new Option("-o, --output <format>", "output format").choices(OUTPUT_FORMATS).default("table"))
    .addHelpText("after", "\nExample:\n  $ mfactl apikey create --name n8n-prod --scope write --tenant contoso.onmicrosoft.com\nDocs: docs/commands/apikey.md")
    .action((flags: { name: string; scope: string; tenant?: string; output: OutputFormat }) =>
      run(async (ctx: CommandContext) => {
        const store = await ctx.store();
        const at = new Date().toISOString();
        const created = await createApiKey(store.access, { name: flags.name, scopes: [flags.scope], tenants: flags.tenant?.split(","), createdBy: cliActor(), at });
        await store.access.appendAudit({ at, actor: cliActor(), action: "apikey.create", outcome: "ok", target: `${created.record.name} (${created.record.keyId})`, detail: `scopes ${created.record.scopes.join(",")}` });
        if (flags.output === "json") ctx.out.write(renderJson({ key: created.key, ...created.record }));
        else {
          ctx.out.write(`${created.key}\n`);
          ctx.err.write(`API key ${created.record.name} (${created.record.keyId}) created with ${created.record.scopes.join(", ")}. It is shown this once; store it now.\n`);
        }
        return EXIT.ok;
      }),
    );

  cmd
    .command("list")
    .summary("list keys (never the keys themselves)")
    .addOption(new Option("-o, --output <format>", "output format").choices(OUTPUT_FORMATS).default("table"))
    .action((flags: { output: OutputFormat }) =>
      run(async (ctx: CommandContext) => {
        const keys = await (await ctx.store()).access.listApiKeys();
        ctx.out.write(flags.output === "json" ? renderJson(keys) : renderTable(keys, KEY_COLUMNS));
        return EXIT.ok;
      }),
    );

  cmd
    .command("revoke")
    .summary("revoke a key by name or key id: the next request with it gets 401")
    .argument("<name|keyId>")
    .action((ref: string) =>
      run(async (ctx: CommandContext) => {
        const store = await ctx.store();
        const at = new Date().toISOString();
        const revoked = await store.access.revokeApiKey(ref, at);
        if (!revoked) {
          ctx.err.write(`error: no live API key named ${ref} and no key with that id (see \`mfactl apikey list\`).\n`);
          return EXIT.usage;
        }
        if (revoked.revokedAt !== undefined && revoked.revokedAt !== at) {
          ctx.err.write(`API key ${revoked.name} (${revoked.keyId}) was already revoked at ${revoked.revokedAt}; nothing changed.\n`);
          return EXIT.ok;
        }
        await store.access.appendAudit({ at, actor: cliActor(), action: "apikey.revoke", outcome: "ok", target: `${revoked.name} (${revoked.keyId})` });
        ctx.err.write(`API key ${revoked.name} (${revoked.keyId}) revoked at ${revoked.revokedAt ?? at}.\n`);
        return EXIT.ok;
      }),
    );
  return cmd;
}
