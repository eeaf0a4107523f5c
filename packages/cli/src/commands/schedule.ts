import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { hostname } from "node:os";
import { Command, Option } from "commander";
import {
  ALERT_WHEN,
  createFetch,
  deliverAlerts,
  MfactlError,
  newScheduleRecord,
  nextFires,
  parseMaxChanges,
  parseScheduleInput,
  redactUrl,
  runDriftCheck,
  ScheduleNameTakenError,
  scheduleTenants,
  scheduleView,
  tenantRefProblem,
  UsageError,
  WEBHOOK_FORMATS,
  type AlertDelivery,
  type AlertWhen,
  type DriftCheckResult,
  type ScheduleDefinition,
  type ScheduleFire,
  type ScheduleInput,
  type ScheduleRecord,
  type ScheduleView,
  type WebhookFormat,
} from "@mfactl/core";
import type { MfactlStore } from "@mfactl/store";
import { confirm } from "../confirm.js";
import type { CommandContext } from "../context.js";
import { EXIT, type ExitCode } from "../exit-codes.js";
import { pickGuards } from "../guard-options.js";
import { OUTPUT_FORMATS, renderJson, renderTable, type OutputFormat } from "../output.js";
import { progressFor } from "../progress-events.js";
import { runContext } from "../run-output.js";
import { allTenants, tenantSourcesFor } from "../selection-options.js";
import { resolveSmtp, SMTP_PASSWORD_ENV } from "../settings.js";
import { cliActor } from "./apikey.js";
import type { CommandRunner } from "./types.js";

const DOCS = "Docs: docs/commands/schedule.md and docs/alerts.md";
const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The flags `add` and `set` share: everything a definition holds. */
interface DefinitionFlags {
  cron?: string;
  timezone?: string;
  policy?: string;
  tenant?: string[];
  allTenants?: boolean;
  webhook?: string[];
  webhookSecretEnv?: string;
  emailTo?: string[];
  emailFrom?: string;
  alertWhen?: AlertWhen;
  remediate?: boolean;
  remediateMaxChanges?: string;
  output: OutputFormat;
}

interface AddFlags extends DefinitionFlags {
  disabled?: boolean;
}

interface SetFlags extends DefinitionFlags {
  enable?: boolean;
  disable?: boolean;
  /** false with --no-webhooks. */
  webhooks: boolean;
  /** false with --no-email. */
  email: boolean;
}

function addDefinitionOptions(cmd: Command, verb: "add" | "set"): Command {
  const keep = verb === "set" ? " (replaces the schedule's)" : "";
  return cmd
    .option("--cron <expr>", `when it runs: five fields (minute hour day-of-month month day-of-week) or six (seconds first)${verb === "add" ? "; required" : ""}`)
    .option("--timezone <iana>", "the time zone the cron expression is read in, e.g. Europe/Berlin (default UTC)")
    .option("-p, --policy <file>", `desired-state policy file, YAML or JSON (docs/policy.md); its text is stored with the schedule${verb === "add" ? "; required" : ""}`)
    .option("-t, --tenant <tenant>", `tenant id or domain to check (repeatable)${keep}; default: the tenants the policy names`, collect)
    .option("--all-tenants", "the profile's (or server's) tenants at each firing, as --all-tenants of drift (a tenant no policy covers is a warning, not a failure)")
    .option("--webhook <[format=]url>", `send alerts to this webhook (repeatable)${keep}; format ${WEBHOOK_FORMATS.join(", ")} (default mfactl), e.g. teams=https://...; https:// (http:// to loopback only)`, collect)
    .option("--webhook-secret-env <VAR>", "sign the webhooks' bodies (X-Mfactl-Signature, HMAC-SHA256) with the secret in this environment variable (at least 16 characters)")
    .option("--email-to <addresses>", `send alerts by email to these addresses (comma-separated, repeatable)${keep}; SMTP from the profile's smtp`, collect)
    .option("--email-from <address>", "the email's From (default: the profile's smtp.from)")
    .addOption(new Option("--alert-when <when>", "when alerts go out: on drift found (default), on every check, or when remediation changed users").choices(ALERT_WHEN))
    .option("--remediate", "change the users in drift through the journal, as `mfactl enforce` does, within the run-size cap")
    .option("--remediate-max-changes <n|p%>", "the run-size cap of remediation (default: the profile's or server's maxChanges); over it nothing is changed and the alert says so")
    .addOption(new Option("-o, --output <format>", "output format").choices(OUTPUT_FORMATS).default("table"));
}

/** `teams=https://...` -> teams; a bare URL is the mfactl payload. The URL is never echoed: it may hold a secret. */
function parseWebhook(spec: string, index: number): { url: string; format: WebhookFormat } {
  const prefixed = /^([A-Za-z]+)=(.*)$/s.exec(spec.trim());
  if (!prefixed) return { url: spec.trim(), format: "mfactl" };
  const format = prefixed[1]!.toLowerCase();
  if (!(WEBHOOK_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--webhook #${index + 1}: unknown format "${prefixed[1]!}": expected ${WEBHOOK_FORMATS.join(", ")} before "=", or a URL alone for the mfactl payload.`);
  }
  return { url: prefixed[2]!.trim(), format: format as WebhookFormat };
}

function splitAddresses(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v.length > 0);
}

/** The secret named by --webhook-secret-env, from the environment only: a flag's value shows in the process list. */
function webhookSecret(ctx: CommandContext, variable: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) throw new UsageError(`--webhook-secret-env ${JSON.stringify(variable)}: expected the name of an environment variable, not its value.`);
  const secret = ctx.io.env[variable];
  if (!secret) throw new UsageError(`--webhook-secret-env ${variable}: the environment variable ${variable} is not set (or is empty).`);
  ctx.out.addSecrets([secret]);
  ctx.err.addSecrets([secret]);
  return secret;
}

async function readPolicyText(path: string): Promise<{ policy: string; policySource: string }> {
  try {
    return { policy: await readFile(path, "utf8"), policySource: basename(path) };
  } catch (error) {
    throw new UsageError(`Cannot read the policy file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
  }
}

function checkTenantFlags(flags: DefinitionFlags): void {
  if (flags.tenant?.length && flags.allTenants) throw new UsageError("Give --tenant or --all-tenants, not both.");
  for (const t of flags.tenant ?? []) {
    const problem = tenantRefProblem(t);
    if (problem) throw new UsageError(`--tenant: ${problem}`);
  }
}

function checkMaxChanges(value: string | undefined): void {
  if (value !== undefined) parseMaxChanges(value, "--remediate-max-changes");
}

/** The definition of a stored schedule, as input again (for `set`). */
function inputOf(record: ScheduleRecord): ScheduleInput {
  const { scheduleId: _id, createdAt: _c, updatedAt: _u, createdBy: _b, ...definition } = record;
  return definition;
}

function validate(raw: ScheduleInput, name: string): ScheduleDefinition {
  return parseScheduleInput(raw, `schedule ${name}`);
}

async function findSchedule(store: MfactlStore, ref: string): Promise<ScheduleRecord> {
  const found = await store.schedules.getSchedule(ref);
  if (!found) throw new UsageError(`No schedule named ${ref} and none with that id (see \`mfactl schedule list\`).`);
  return found;
}

function nameTaken(error: unknown, name: string): never {
  if (error instanceof ScheduleNameTakenError) throw new UsageError(`A schedule named ${name} already exists (names ignore case): choose another name, or change it with \`mfactl schedule set ${name}\`.`);
  throw error;
}

const iso = (ms: number) => new Date(ms).toISOString();

function upcoming(def: ScheduleDefinition, count: number): string[] {
  return nextFires(def, Date.now(), count).map(iso);
}

function describeTenants(def: Pick<ScheduleDefinition, "tenants" | "allTenants">): string {
  if (def.tenants.length) return def.tenants.join(", ");
  return def.allTenants ? "all (the profile's or server's)" : "the policy's";
}

function whenText(when: AlertWhen): string {
  return when === "always" ? "every check" : when === "remediated" ? "when remediated" : "on drift";
}

function describeAlerts(view: ScheduleView): string[] {
  const lines = view.alerts.webhooks.map((w) => `webhook ${w.url} (${w.format}, ${whenText(w.when)}${w.secret ? ", signed" : ""})`);
  const email = view.alerts.email;
  if (email) lines.push(`email to ${email.to.join(", ")}${email.from ? ` from ${email.from}` : ""} (${whenText(email.when)})`);
  return lines;
}

function alertsSummary(view: ScheduleView): string {
  const parts: string[] = [];
  const hooks = view.alerts.webhooks;
  if (hooks.length) parts.push(`${hooks.length} webhook${hooks.length === 1 ? "" : "s"} (${[...new Set(hooks.map((w) => w.format))].join(",")})`);
  if (view.alerts.email) parts.push(`email (${view.alerts.email.to.length})`);
  return parts.length ? parts.join(", ") : "none";
}

function describeRemediation(def: ScheduleDefinition): string {
  if (!def.remediate.enabled) return "off";
  return `on, max changes ${def.remediate.maxChanges !== undefined ? String(def.remediate.maxChanges) : "the profile's or server's maxChanges"}`;
}

/** What a firing's stored result says, read defensively: a server of another version may have written it. */
interface FireSummary {
  checkStatus: string | undefined;
  inDrift: number | undefined;
  runId: string | undefined;
  sent: number;
  failed: number;
}

function summarizeFire(fire: ScheduleFire): FireSummary {
  const result = (typeof fire.result === "object" && fire.result !== null ? fire.result : {}) as {
    status?: unknown;
    counts?: { inDrift?: unknown };
    remediation?: { runId?: unknown };
    alerts?: unknown;
  };
  const deliveries = Array.isArray(result.alerts) ? (result.alerts as Partial<AlertDelivery>[]) : [];
  return {
    checkStatus: typeof result.status === "string" ? result.status : undefined,
    inDrift: typeof result.counts?.inDrift === "number" ? result.counts.inDrift : undefined,
    runId: typeof result.remediation?.runId === "string" ? result.remediation.runId : undefined,
    sent: deliveries.filter((d) => d.status === "sent").length,
    failed: deliveries.filter((d) => d.status === "failed").length,
  };
}

function fireStatus(fire: ScheduleFire): string {
  const s = summarizeFire(fire);
  return s.checkStatus && fire.status !== "running" ? `${fire.status} (${s.checkStatus})` : fire.status;
}

const FIRE_COLUMNS = [
  { header: "PERIOD", value: (f: ScheduleFire) => f.period },
  { header: "STATUS", value: (f: ScheduleFire) => fireStatus(f) },
  { header: "TRIGGER", value: (f: ScheduleFire) => f.trigger },
  { header: "IN DRIFT", value: (f: ScheduleFire) => summarizeFire(f).inDrift?.toString() },
  { header: "REMEDIATION RUN", value: (f: ScheduleFire) => summarizeFire(f).runId },
  { header: "ALERTS SENT/FAILED", value: (f: ScheduleFire) => (f.status === "running" ? undefined : `${summarizeFire(f).sent}/${summarizeFire(f).failed}`) },
  { header: "ERROR", value: (f: ScheduleFire) => (f.error ? `${f.error.code}: ${f.error.message}` : undefined) },
];

interface ListRow {
  view: ScheduleView;
  nextFire: string | undefined;
  lastFire: ScheduleFire | undefined;
}

const LIST_COLUMNS = [
  { header: "NAME", value: (r: ListRow) => r.view.name },
  { header: "ENABLED", value: (r: ListRow) => (r.view.enabled ? "yes" : "no") },
  { header: "CRON", value: (r: ListRow) => `${r.view.cron} (${r.view.timezone})` },
  { header: "TENANTS", value: (r: ListRow) => describeTenants(r.view) },
  { header: "ALERTS", value: (r: ListRow) => alertsSummary(r.view) },
  { header: "REMEDIATION", value: (r: ListRow) => (r.view.remediate.enabled ? `on${r.view.remediate.maxChanges !== undefined ? ` (max ${String(r.view.remediate.maxChanges)})` : ""}` : "off") },
  { header: "NEXT FIRE", value: (r: ListRow) => (r.view.enabled ? r.nextFire : "(disabled)") },
  { header: "LAST FIRING", value: (r: ListRow) => (r.lastFire ? `${fireStatus(r.lastFire)} ${r.lastFire.period}` : undefined) },
];

function describeSchedule(view: ScheduleView, next: readonly string[]): string {
  const alerts = describeAlerts(view);
  const lines: [string, string | string[]][] = [
    ["name", view.name],
    ["id", view.scheduleId],
    ["enabled", view.enabled ? "yes" : "no (`mfactl schedule set <name> --enable` to turn it on)"],
    ["cron", `${view.cron} (${view.timezone})`],
    ["policy", view.policySource ?? "(given inline)"],
    ["tenants", describeTenants(view)],
    ["alerts", alerts.length ? alerts : "none"],
    ["remediation", describeRemediation(view)],
    ["created", `${view.createdAt} by ${view.createdBy}`],
    ["updated", view.updatedAt],
    [view.enabled ? "next fires" : "next fires (when enabled)", next.length ? [...next] : "none"],
  ];
  return lines
    .map(([label, value]) => {
      const values = Array.isArray(value) ? value : [value];
      return values.map((v, i) => `${i === 0 ? `${label}:`.padEnd(14) : " ".repeat(14)}${v}`).join("\n");
    })
    .join("\n")
    .concat("\n");
}

async function audit(store: MfactlStore, action: string, record: Pick<ScheduleRecord, "name" | "scheduleId">, detail?: string): Promise<void> {
  await store.access.appendAudit({ at: new Date().toISOString(), actor: cliActor(), action, outcome: "ok", target: `${record.name} (${record.scheduleId})`, ...(detail ? { detail } : {}) });
}

function auditDetail(def: ScheduleDefinition): string {
  return `cron ${def.cron} (${def.timezone}), ${def.enabled ? "enabled" : "disabled"}, remediation ${def.remediate.enabled ? "on" : "off"}, ${def.alerts.webhooks.length} webhook(s)${def.alerts.email ? ", email" : ""}`;
}

function printSchedule(ctx: CommandContext, record: ScheduleRecord, output: OutputFormat, count: number, note: string): void {
  const view = scheduleView(record);
  const next = upcoming(record, count);
  if (output === "json") ctx.out.write(renderJson({ ...view, nextFires: next }));
  else ctx.out.write(describeSchedule(view, next));
  ctx.err.write(`${note}\n`);
}

/** Every webhook URL and secret of the schedule is scrubbed from anything printed, whatever a view forgets. */
function guardSecrets(ctx: CommandContext, def: ScheduleDefinition): void {
  // A URL with nothing after its host shows as itself: only one with a path, query or fragment is a secret.
  const secrets = def.alerts.webhooks.flatMap((w) => [...(redactUrl(w.url) !== w.url ? [w.url] : []), ...(w.secret ? [w.secret] : [])]);
  ctx.out.addSecrets(secrets);
  ctx.err.addSecrets(secrets);
}

function addHelp(cmd: Command, examples: string[], extra = ""): Command {
  return cmd.addHelpText("after", `\nExamples:\n${examples.map((e) => `  $ ${e}`).join("\n")}\n${extra}${DOCS}`);
}

export function scheduleCommand(run: CommandRunner): Command {
  const cmd = new Command("schedule")
    .summary("scheduled drift checks: a policy checked on a cron schedule, with alerts and optional remediation")
    .description(
      "Schedules live in the database (--db), next to the journal: `mfactl serve` runs them (any instance, each period once); " +
        "`mfactl schedule run` fires one now from this process. Each firing measures the tenants against the schedule's policy " +
        "(as `mfactl drift`), remediates the drift through the journal when asked (as `mfactl enforce`, within the run-size " +
        "cap), sends the alerts (webhooks: the mfactl JSON payload, Teams or Slack; email over SMTP) and keeps the result.",
    )
    .addHelpText("after", `\nExamples:\n  $ mfactl schedule add nightly --cron "0 6 * * *" --policy policy.yaml --webhook teams=https://...\n  $ mfactl schedule list\n  $ mfactl schedule run nightly\n${DOCS}`);

  addHelp(
    addDefinitionOptions(
      cmd.command("add").summary("create a schedule").argument("<name>", "letters, digits, '.', '_' or '-' (at most 63), unique ignoring case"),
      "add",
    ).option("--disabled", "create it turned off (it never fires until `schedule set <name> --enable`)"),
    [
      'mfactl schedule add nightly --cron "0 6 * * *" --timezone Europe/Berlin --policy policy.yaml',
      'mfactl schedule add hourly --cron "0 * * * *" --policy policy.yaml --all-tenants --webhook teams=https://contoso.webhook.office.com/... --alert-when always',
      'MFACTL_HOOK_SECRET=... mfactl schedule add fix --cron "*/30 * * * *" --policy policy.yaml --webhook https://ops.contoso.com/hooks/mfa --webhook-secret-env MFACTL_HOOK_SECRET --remediate --remediate-max-changes 25',
    ],
    "Exit codes: 0 created, 2 bad usage, cron, policy or alert (nothing stored).\n",
  ).action((name: string, flags: AddFlags) =>
    run(async (ctx) => {
      if (flags.cron === undefined) throw new UsageError("schedule add needs --cron <expr> (for example --cron \"0 6 * * *\": every day at 06:00).");
      if (flags.policy === undefined) throw new UsageError("schedule add needs --policy <file>.");
      checkTenantFlags(flags);
      checkMaxChanges(flags.remediateMaxChanges);
      if (flags.remediateMaxChanges !== undefined && !flags.remediate) throw new UsageError("--remediate-max-changes is the cap of remediation: add --remediate.");
      if (flags.webhookSecretEnv !== undefined && !flags.webhook?.length) throw new UsageError("--webhook-secret-env signs webhooks: add --webhook <url>.");
      if (flags.emailFrom !== undefined && !flags.emailTo?.length) throw new UsageError("--email-from needs --email-to <addresses>.");
      const secret = flags.webhookSecretEnv !== undefined ? webhookSecret(ctx, flags.webhookSecretEnv) : undefined;
      const when = flags.alertWhen ?? "drift";
      const emailTo = splitAddresses(flags.emailTo ?? []);
      const raw: ScheduleInput = {
        name,
        cron: flags.cron,
        timezone: flags.timezone ?? "UTC",
        ...(await readPolicyText(flags.policy)),
        tenants: flags.tenant ?? [],
        allTenants: flags.allTenants === true,
        alerts: {
          webhooks: (flags.webhook ?? []).map((spec, i) => ({ ...parseWebhook(spec, i), when, ...(secret !== undefined ? { secret } : {}) })),
          ...(emailTo.length ? { email: { to: emailTo, ...(flags.emailFrom !== undefined ? { from: flags.emailFrom } : {}), when } } : {}),
        },
        remediate: { enabled: flags.remediate === true, ...(flags.remediateMaxChanges !== undefined ? { maxChanges: flags.remediateMaxChanges } : {}) },
        enabled: flags.disabled !== true,
      };
      guardSecrets(ctx, raw as ScheduleDefinition);
      const def = validate(raw, name);
      const store = await ctx.store();
      const record = await store.schedules.createSchedule(newScheduleRecord(def, cliActor(), Date.now())).catch((e: unknown) => nameTaken(e, def.name));
      await audit(store, "schedule.create", record, auditDetail(record));
      printSchedule(ctx, record, flags.output, 3, `Schedule ${record.name} (${record.scheduleId}) created${record.enabled ? "; `mfactl serve` runs it" : ", disabled"}. Fire it now with: mfactl schedule run ${record.name}`);
      return EXIT.ok;
    }),
  );

  addHelp(
    cmd
      .command("list")
      .summary("list the schedules: when they run, what they check, alerts, the last firing")
      .addOption(new Option("-o, --output <format>", "output format").choices(OUTPUT_FORMATS).default("table")),
    ["mfactl schedule list", "mfactl schedule list -o json"],
  ).action((flags: { output: OutputFormat }) =>
    run(async (ctx) => {
      const store = await ctx.store();
      const schedules = await store.schedules.listSchedules();
      const rows: ListRow[] = [];
      for (const s of schedules) {
        guardSecrets(ctx, s);
        const [lastFire] = await store.schedules.listFires(s.scheduleId, { limit: 1 });
        rows.push({ view: scheduleView(s), nextFire: upcoming(s, 1)[0], lastFire });
      }
      if (flags.output === "json") {
        ctx.out.write(renderJson(rows.map((r) => ({ ...r.view, nextFire: r.view.enabled ? (r.nextFire ?? null) : null, lastFire: r.lastFire ? fireOverview(r.lastFire) : null }))));
      } else if (rows.length === 0) ctx.err.write("No schedules yet: create one with `mfactl schedule add <name> --cron <expr> --policy <file>`.\n");
      else ctx.out.write(renderTable(rows, LIST_COLUMNS));
      return EXIT.ok;
    }),
  );

  addHelp(
    cmd
      .command("show")
      .summary("one schedule in full: its definition (webhook URLs redacted), the next 5 fires, the last 5 firings")
      .argument("<name>", "the schedule's name or id")
      .addOption(new Option("-o, --output <format>", "output format").choices(OUTPUT_FORMATS).default("table")),
    ["mfactl schedule show nightly", "mfactl schedule show nightly -o json"],
  ).action((ref: string, flags: { output: OutputFormat }) =>
    run(async (ctx) => {
      const store = await ctx.store();
      const record = await findSchedule(store, ref);
      guardSecrets(ctx, record);
      const view = scheduleView(record);
      const next = upcoming(record, 5);
      const fires = await store.schedules.listFires(record.scheduleId, { limit: 5 });
      if (flags.output === "json") {
        ctx.out.write(renderJson({ ...view, nextFires: next, fires: fires.map(fireOverview) }));
        return EXIT.ok;
      }
      ctx.out.write(describeSchedule(view, next));
      ctx.out.write(`\nlast firings:\n${fires.length ? renderTable(fires, FIRE_COLUMNS) : "none yet\n"}`);
      ctx.out.write(`\npolicy${view.policySource ? ` (${view.policySource})` : ""}:\n${view.policy.replace(/\s+$/, "").split("\n").map((l) => `  ${l}`).join("\n")}\n`);
      return EXIT.ok;
    }),
  );

  addHelp(
    addDefinitionOptions(cmd.command("set").summary("change a schedule: what is given changes, the rest is kept").argument("<name>", "the schedule's name or id"), "set")
      .option("--enable", "turn it on")
      .option("--disable", "turn it off (it keeps its definition and firings)")
      .option("--no-remediate", "turn remediation off")
      .option("--no-webhooks", "remove every webhook")
      .option("--no-email", "remove the email alert"),
    ['mfactl schedule set nightly --cron "30 5 * * 1-5"', "mfactl schedule set nightly --disable", "mfactl schedule set nightly --policy policy-v2.yaml --remediate --remediate-max-changes 10%", "mfactl schedule set nightly --no-webhooks --email-to secops@contoso.com"],
    "Exit codes: 0 changed, 2 bad usage, unknown schedule, cron, policy or alert (nothing changed).\n",
  ).action((ref: string, flags: SetFlags) =>
    run(async (ctx) => {
      checkTenantFlags(flags);
      checkMaxChanges(flags.remediateMaxChanges);
      if (flags.enable && flags.disable) throw new UsageError("Give --enable or --disable, not both.");
      if (!flags.webhooks && flags.webhook?.length) throw new UsageError("Give --webhook or --no-webhooks, not both.");
      if (!flags.email && (flags.emailTo?.length || flags.emailFrom !== undefined)) throw new UsageError("Give --email-to/--email-from or --no-email, not both.");
      const store = await ctx.store();
      const record = await findSchedule(store, ref);
      guardSecrets(ctx, record);
      const raw = inputOf(record);
      const changes: string[] = [];
      if (flags.cron !== undefined) {
        raw.cron = flags.cron;
        changes.push("cron");
      }
      if (flags.timezone !== undefined) {
        raw.timezone = flags.timezone;
        changes.push("timezone");
      }
      if (flags.policy !== undefined) {
        Object.assign(raw, await readPolicyText(flags.policy));
        changes.push("policy");
      }
      if (flags.tenant?.length) {
        raw.tenants = flags.tenant;
        raw.allTenants = false;
        changes.push("tenants");
      }
      if (flags.allTenants) {
        raw.tenants = [];
        raw.allTenants = true;
        changes.push("tenants");
      }
      if (flags.enable) {
        raw.enabled = true;
        changes.push("enabled");
      }
      if (flags.disable) {
        raw.enabled = false;
        changes.push("enabled");
      }

      const alerts = record.alerts;
      let webhooks = alerts.webhooks.map((w) => ({ ...w }));
      if (!flags.webhooks) {
        webhooks = [];
        changes.push("webhooks");
      }
      if (flags.webhook?.length) {
        webhooks = flags.webhook.map((spec, i) => ({ ...parseWebhook(spec, i), when: flags.alertWhen ?? ("drift" as const) }));
        changes.push("webhooks");
      }
      if (flags.webhookSecretEnv !== undefined) {
        if (!webhooks.length) throw new UsageError(`--webhook-secret-env signs webhooks, and schedule ${record.name} would have none: add --webhook <url>.`);
        const secret = webhookSecret(ctx, flags.webhookSecretEnv);
        webhooks = webhooks.map((w) => ({ ...w, secret }));
        changes.push("webhook secret");
      }
      let email = alerts.email ? { ...alerts.email } : undefined;
      if (!flags.email) {
        email = undefined;
        changes.push("email");
      }
      const emailTo = splitAddresses(flags.emailTo ?? []);
      if (emailTo.length) {
        email = { ...email, to: emailTo, when: email?.when ?? "drift" };
        changes.push("email");
      }
      if (flags.emailFrom !== undefined) {
        if (!email) throw new UsageError(`--email-from: schedule ${record.name} sends no email: add --email-to <addresses>.`);
        email = { ...email, from: flags.emailFrom };
        changes.push("email");
      }
      if (flags.alertWhen !== undefined) {
        const when = flags.alertWhen;
        if (!webhooks.length && !email) throw new UsageError(`--alert-when: schedule ${record.name} has no alerts: add --webhook or --email-to.`);
        webhooks = webhooks.map((w) => ({ ...w, when }));
        if (email) email = { ...email, when };
        changes.push("alert when");
      }
      raw.alerts = { webhooks, ...(email ? { email } : {}) };

      const remediate = { ...record.remediate };
      if (flags.remediate !== undefined) {
        remediate.enabled = flags.remediate;
        changes.push("remediation");
      }
      if (flags.remediateMaxChanges !== undefined) {
        if (!remediate.enabled) throw new UsageError(`--remediate-max-changes is the cap of remediation, which is off for schedule ${record.name}: add --remediate.`);
        remediate.maxChanges = flags.remediateMaxChanges;
        changes.push("remediation cap");
      }
      raw.remediate = remediate;

      if (changes.length === 0) throw new UsageError(`Nothing to change: give what to change (see \`mfactl schedule set --help\`); schedule ${record.name} is as it was.`);
      guardSecrets(ctx, raw as ScheduleDefinition);
      const def = validate(raw, record.name);
      const updated = await store.schedules.replaceSchedule(record.scheduleId, def, new Date().toISOString()).catch((e: unknown) => nameTaken(e, def.name));
      if (!updated) throw new UsageError(`Schedule ${record.name} was removed meanwhile; nothing changed.`);
      await audit(store, "schedule.update", updated, `${[...new Set(changes)].join(", ")}; ${auditDetail(updated)}`);
      printSchedule(ctx, updated, flags.output, 3, `Schedule ${updated.name} (${updated.scheduleId}) changed: ${[...new Set(changes)].join(", ")}.`);
      return EXIT.ok;
    }),
  );

  addHelp(
    cmd
      .command("remove")
      .summary("remove a schedule and its firings (remediation runs stay in the journal)")
      .argument("<name>", "the schedule's name or id")
      .option("-y, --yes", "do not ask for confirmation (needed when not on a terminal)"),
    ["mfactl schedule remove nightly", "mfactl schedule remove nightly --yes"],
    "Exit codes: 0 removed, 2 bad usage or unknown schedule (nothing removed), 130 declined.\n",
  ).action((ref: string, flags: { yes?: boolean }) =>
    run(async (ctx) => {
      const store = await ctx.store();
      const record = await findSchedule(store, ref);
      const fires = await store.schedules.listFires(record.scheduleId, { limit: 1 });
      const question = `Remove schedule ${record.name} (${record.cron}, ${record.timezone})${fires.length ? " and its firings' results" : ""}?`;
      if (!(await confirm(ctx, question, flags.yes, "`mfactl schedule show` to review"))) {
        ctx.err.write("Nothing was removed.\n");
        return EXIT.interrupted;
      }
      if (!(await store.schedules.deleteSchedule(record.scheduleId))) throw new UsageError(`Schedule ${record.name} was removed meanwhile.`);
      await audit(store, "schedule.delete", record);
      ctx.err.write(`Schedule ${record.name} (${record.scheduleId}) removed.\n`);
      return EXIT.ok;
    }),
  );

  addHelp(
    cmd
      .command("run")
      .summary("fire a schedule now, in this process: check, remediate if set, send the alerts, keep the result")
      .argument("<name>", "the schedule's name or id")
      .addOption(new Option("-o, --output <format>", "output format").choices(OUTPUT_FORMATS).default("table"))
      .option("-q, --quiet", "no progress display"),
    ["mfactl schedule run nightly", "mfactl schedule run nightly -o json"],
    "Exit codes: 0 checked (drift or not), 1 a tenant failed, a remediation change failed or conflicted, or an alert\n" +
      "could not be delivered, 2 bad usage or unknown schedule, 130 interrupted.\n" +
      `SMTP for email alerts: the profile's smtp, its password from ${SMTP_PASSWORD_ENV} (docs/configuration.md).\n`,
  ).action((ref: string, flags: { output: OutputFormat; quiet?: boolean }) =>
    run(async (ctx, retry) => runNow(ctx, retry, ref, flags)),
  );

  addHelp(
    cmd
      .command("results")
      .summary("a schedule's firings, newest first: status, drift, remediation run, alerts")
      .argument("<name>", "the schedule's name or id")
      .option("--limit <n>", "at most this many firings (default 20)", "20")
      .addOption(new Option("-o, --output <format>", "output format (json: the firings with their full results)").choices(OUTPUT_FORMATS).default("table")),
    ["mfactl schedule results nightly", "mfactl schedule results nightly --limit 1 -o json"],
  ).action((ref: string, flags: { limit: string; output: OutputFormat }) =>
    run(async (ctx) => {
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError(`Invalid --limit ${JSON.stringify(flags.limit)}: expected a whole number from 1 to 1000.`);
      const store = await ctx.store();
      const record = await findSchedule(store, ref);
      guardSecrets(ctx, record);
      const fires = await store.schedules.listFires(record.scheduleId, { limit });
      if (flags.output === "json") ctx.out.write(renderJson(fires));
      else if (fires.length === 0) ctx.err.write(`Schedule ${record.name} has not fired yet (fire it now with \`mfactl schedule run ${record.name}\`).\n`);
      else ctx.out.write(renderTable(fires, FIRE_COLUMNS));
      return EXIT.ok;
    }),
  );
  return cmd;
}

/** A firing without its full result (list, show): the result's headline numbers instead. */
function fireOverview(fire: ScheduleFire): Record<string, unknown> {
  const { result: _r, ...rest } = fire;
  const s = summarizeFire(fire);
  return { ...rest, ...(s.checkStatus ? { checkStatus: s.checkStatus } : {}), ...(s.inDrift !== undefined ? { inDrift: s.inDrift } : {}), ...(s.runId ? { runId: s.runId } : {}), alertsSent: s.sent, alertsFailed: s.failed };
}

const DRIFT_COLUMNS = [
  { header: "TENANT", value: (r: DriftCheckResult["drift"][number]) => r.tenant },
  { header: "USER", value: (r: DriftCheckResult["drift"][number]) => r.userPrincipalName },
  { header: "STATE", value: (r: DriftCheckResult["drift"][number]) => r.perUserMfaState },
  { header: "POLICY WANTS", value: (r: DriftCheckResult["drift"][number]) => r.requestedState },
  { header: "RULE", value: (r: DriftCheckResult["drift"][number]) => (r.rule ? `${r.policy ?? ""}: ${r.rule}` : undefined) },
  { header: "PROTECTED", value: (r: DriftCheckResult["drift"][number]) => r.protected },
];

function errorOf(error: unknown): { code: string; message: string } {
  if (error instanceof MfactlError) return { code: error.kind, message: error.message };
  return { code: "unexpected", message: error instanceof Error ? error.message : String(error) };
}

/** `schedule run`: claim a firing for now, check, remediate, alert, record; as the server's scheduler does. */
async function runNow(ctx: CommandContext, retry: Parameters<typeof runContext>[1], ref: string, flags: { output: OutputFormat; quiet?: boolean }): Promise<ExitCode> {
  const store = await ctx.store();
  const schedule = await findSchedule(store, ref);
  guardSecrets(ctx, schedule);
  const settings = ctx.resolveSettings();
  const guards = pickGuards({}, ctx);
  const smtp = schedule.alerts.email ? resolveSmtp(ctx.profileExtras(), ctx.io.env, settings.connection.caPem) : undefined;
  if (smtp?.password) {
    ctx.out.addSecrets([smtp.password]);
    ctx.err.addSecrets([smtp.password]);
  }
  const extras = ctx.profileExtras();
  const known = allTenants(extras.tenants ?? [], {}, tenantSourcesFor(ctx.io.env, () => ctx.profileExtras())).map((t) => t.tenant);
  const scope = scheduleTenants(schedule, known);
  if (scope.tenants.length === 0) {
    throw new UsageError(`Schedule ${schedule.name} has no tenant to check: its policy applies to "*" and the profile lists no tenants (add "tenants" to the profile, or \`mfactl schedule set ${schedule.name} --tenant <t>\`).`);
  }
  const quiet = flags.quiet === true || flags.output === "json";
  if (!schedule.enabled && !quiet) ctx.err.write(`note: schedule ${schedule.name} is disabled; firing it by hand anyway.\n`);
  const engine = ctx.engine(retry);
  const runCtx = schedule.remediate.enabled ? await runContext(ctx, retry) : undefined;
  const actor = ctx.actor();
  const period = new Date().toISOString();
  const trigger = `manual:${actor}`;
  const fire = await store.schedules.claimFire({ scheduleId: schedule.scheduleId, period, startedAt: period, trigger, instance: `${hostname()}:${process.pid}` });
  if (!fire) throw new UsageError(`Schedule ${schedule.name} already has a firing for ${period}; try again.`);
  if (!quiet) ctx.err.write(`schedule ${schedule.name}: checking ${scope.tenants.length} tenant${scope.tenants.length === 1 ? "" : "s"} (period ${period})\n`);

  const http = createFetch({ caPem: settings.connection.caPem });
  const progress = progressFor(ctx, { quiet, tenantCount: scope.tenants.length });
  try {
    let result: DriftCheckResult;
    let deliveries: AlertDelivery[];
    try {
      try {
        result = await runDriftCheck(
          {
            engine,
            run: runCtx,
            protectedList: guards.protectedList,
            maxChanges: guards.maxChanges,
            signal: ctx.io.signal,
            onProgress: progress.onEvent,
            onRunCreated: (runId) => {
              if (!quiet) ctx.err.write(`run ${runId} started (journal ${runCtx?.journal.location ?? "-"})\n`);
            },
          },
          schedule,
          scope.tenants,
          { period, named: scope.named },
        );
      } finally {
        progress.stop();
      }
      deliveries = await deliverAlerts(schedule.alerts, result, { fetch: http.fetch, smtp, ...(ctx.io.signal ? { signal: ctx.io.signal } : {}) });
    } catch (error) {
      await store.schedules.finishFire(schedule.scheduleId, period, { status: "failed", finishedAt: new Date().toISOString(), error: errorOf(error) }).catch(() => undefined);
      throw error;
    }
    // As the server's scheduler records a firing: the check ran (its own status says how it went), with its alerts.
    const end = { status: "succeeded" as const, finishedAt: new Date().toISOString(), result: { ...result, alerts: deliveries } };
    await store.schedules.finishFire(schedule.scheduleId, period, end);
    if (flags.output === "json") ctx.out.write(renderJson({ ...fire, ...end }));
    else reportRun(ctx, result, deliveries);
    return runExitCode(ctx, result, deliveries);
  } finally {
    await http.close();
  }
}

function reportRun(ctx: CommandContext, result: DriftCheckResult, deliveries: readonly AlertDelivery[]): void {
  const c = result.counts;
  // Rule and protection columns only when some row has them.
  const columns = DRIFT_COLUMNS.filter((c) => (c.header === "RULE" ? result.drift.some((r) => r.rule) : c.header === "PROTECTED" ? result.drift.some((r) => r.protected) : true));
  if (result.drift.length) ctx.out.write(renderTable(result.drift, columns));
  else ctx.out.write(c.tenantsFailed ? "No drift in the tenants that could be read.\n" : "No drift.\n");
  if (result.driftTruncated) ctx.err.write(`(the first ${result.drift.length} users in drift are listed; \`mfactl drift --policy <file>\` lists all)\n`);
  ctx.err.write(
    `${c.inDrift} user${c.inDrift === 1 ? "" : "s"} in drift${c.protectedInDrift ? ` (${c.protectedInDrift} protected)` : ""}; ${c.managed} managed by the policy of ${c.users} users in ${c.tenants - c.tenantsFailed} of ${c.tenants} tenants. Check: ${result.status}.\n`,
  );
  for (const t of result.tenants) {
    for (const w of t.warnings) ctx.err.write(`warning: tenant ${t.tenant}: ${w}\n`);
    if (t.status === "failed") ctx.err.write(`tenant ${t.tenant} failed: ${t.error ? `${t.error.message} [${t.error.code}${t.error.requestId ? `, request id ${t.error.requestId}` : ""}]` : "unknown error"}\n`);
  }
  const r = result.remediation;
  if (!r.enabled) ctx.err.write("remediation: off\n");
  else if (r.status === "skipped") ctx.err.write(`remediation: skipped: ${r.reason}\n`);
  else {
    const counts = ["changed", "unchanged", "failed", "conflict"].map((s) => `${r.counts[s] ?? 0} ${s}`).join(", ");
    const undo = (r.counts.changed ?? 0) > 0 ? `; undo with \`mfactl undo ${r.runId}\`` : "";
    ctx.err.write(`remediation: run ${r.runId} ${r.status}: ${counts}${undo}.\n`);
    if (r.note) ctx.err.write(`  ${r.note}\n`);
    if (r.error) ctx.err.write(`  error: ${r.error.message} [${r.error.code}]\n`);
    for (const f of r.failed) ctx.err.write(`  ${f.status}: ${f.userPrincipalName} (${f.tenant})${f.error ? `: ${f.error.message} [${f.error.code}]` : ""}\n`);
  }
  if (deliveries.length === 0) ctx.err.write("alerts: none configured\n");
  for (const d of deliveries) {
    const detail = d.status === "sent" ? (d.httpStatus !== undefined ? ` (HTTP ${d.httpStatus})` : "") : d.error ? `: ${d.error.message} [${d.error.code}]` : "";
    ctx.err.write(`alert ${d.channel} ${d.target} (${d.format}): ${d.status}${detail}${d.status === "sent" && d.attempts > 1 ? `, after ${d.attempts} attempts` : ""}\n`);
  }
}

function runExitCode(ctx: CommandContext, result: DriftCheckResult, deliveries: readonly AlertDelivery[]): ExitCode {
  if (ctx.io.signal?.aborted) return EXIT.interrupted;
  const r = result.remediation;
  if (r.enabled && r.status === "interrupted") return EXIT.interrupted;
  if (result.counts.tenantsFailed > 0) return EXIT.failed;
  if (r.enabled && r.status !== "skipped" && (r.failed.length > 0 || (r.counts.failed ?? 0) > 0 || (r.counts.conflict ?? 0) > 0)) return EXIT.failed;
  if (deliveries.some((d) => d.status === "failed")) return EXIT.failed;
  return EXIT.ok;
}
