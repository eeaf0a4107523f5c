import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from "yaml";
import { z } from "zod";
import { UsageError } from "../domain/errors.js";
import { MFA_STATES, MfaStateInputSchema, type MfaState } from "../domain/mfa-state.js";
import { isGuid, tenantRefProblem, tenantRefToString, parseTenantRef, UserRefSchema } from "../domain/references.js";

/**
 * The desired-state policy file (docs/policy.md). Read from YAML or JSON, validated strictly:
 * an unknown key is an error, because a misspelt `exclude` or `when` must not silently make a
 * policy touch more users than its author meant.
 */

export const POLICY_FILE_VERSION = 1 as const;
/** Stands for every tenant in a policy's `tenants`. */
export const ALL_TENANTS = "*";
export const USER_TYPES = ["member", "guest"] as const;
export type PolicyUserType = (typeof USER_TYPES)[number];

const NameSchema = z.string().trim().min(1, "must not be empty").max(200, "must be at most 200 characters");

const DescriptionSchema = z.string().optional();

/** A group display name (kept as written, trimmed) or a group object id (lower-cased). */
const GroupRefSchema = z
  .string()
  .trim()
  .min(1, "a group display name or object id must not be empty")
  .max(256, "a group display name is at most 256 characters")
  .transform((v) => (isGuid(v) ? v.toLowerCase() : v))
  .describe("Group: display name or object id (GUID)");

const UserTypeSchema = z
  .string()
  .transform((value, ctx) => {
    const normalized = value.trim().toLowerCase();
    if ((USER_TYPES as readonly string[]).includes(normalized)) return normalized as PolicyUserType;
    ctx.addIssue({ code: "custom", message: `Invalid userType ${JSON.stringify(value)}: expected member or guest.` });
    return z.NEVER;
  })
  .describe("member | guest (case-insensitive)");

/** Only `*` is special, so a pattern can never be an expensive regular expression. */
const UpnPatternSchema = z
  .string()
  .trim()
  .min(1, "a UPN pattern must not be empty")
  .max(256, "a UPN pattern is at most 256 characters")
  .refine((v) => !/\s/.test(v), { message: "a UPN pattern must not contain spaces" })
  .describe("UPN pattern, case-insensitive; * matches any run of characters");

const TenantSelectorSchema = z
  .string()
  .transform((value, ctx) => {
    const v = value.trim();
    if (v === ALL_TENANTS) return ALL_TENANTS;
    const problem = tenantRefProblem(v);
    if (problem) {
      ctx.addIssue({ code: "custom", message: `${problem.replace(/\.$/, "")}, or "*" for every tenant.` });
      return z.NEVER;
    }
    return tenantRefToString(parseTenantRef(v));
  })
  .describe('Tenant: a tenant id (GUID), a domain, or "*" for every tenant');

const ConditionsShape = z.strictObject({
  userType: UserTypeSchema.optional(),
  licensed: z.boolean().optional(),
  accountEnabled: z.boolean().optional(),
  memberOf: z.array(GroupRefSchema).min(1, "memberOf must list at least one group (or leave it out)").optional(),
  upn: z.array(UpnPatternSchema).min(1, "upn must list at least one pattern (or leave it out)").optional(),
});

/** All conditions ANDed; absent or empty matches every user. */
export const PolicyConditionsSchema = ConditionsShape.nullish()
  .transform((v) => v ?? {})
  .describe("Conditions a user must all meet for the rule to apply");

export const PolicyRuleSchema = z.strictObject({
  name: NameSchema,
  description: DescriptionSchema,
  when: PolicyConditionsSchema,
  state: MfaStateInputSchema,
});

const ExcludeShape = z.strictObject({
  users: z.array(UserRefSchema).optional(),
  groups: z.array(GroupRefSchema).optional(),
  directorySyncAccounts: z.boolean().optional(),
});

export const PolicyExcludeSchema = ExcludeShape.nullish()
  .transform((v) => ({
    users: v?.users ?? [],
    groups: v?.groups ?? [],
    // Entra Connect's sync account breaks if MFA is forced on it, so it is left alone unless asked.
    directorySyncAccounts: v?.directorySyncAccounts ?? true,
  }))
  .describe("Users never managed by this policy");

const SectionShape = z.strictObject({
  name: NameSchema,
  description: DescriptionSchema,
  tenants: z.array(TenantSelectorSchema).min(1, 'tenants must list at least one tenant, or "*"'),
  rules: z.array(PolicyRuleSchema).min(1, "rules must list at least one rule (leave rules out when this policy only adds exclusions)").optional(),
  exclude: PolicyExcludeSchema,
  breakGlass: z.array(UserRefSchema).optional(),
});

export const PolicySectionSchema = SectionShape.superRefine((section, ctx) => {
  if (section.tenants.includes(ALL_TENANTS) && section.tenants.length > 1) {
    ctx.addIssue({ code: "custom", path: ["tenants"], message: '"*" already means every tenant: list it alone, or name the tenants without it.' });
  }
  const seen = new Set<string>();
  section.rules?.forEach((rule, index) => {
    const key = rule.name.toLowerCase();
    if (seen.has(key)) ctx.addIssue({ code: "custom", path: ["rules", index, "name"], message: `Duplicate rule name ${JSON.stringify(rule.name)} in this policy.` });
    seen.add(key);
  });
  const e = section.exclude;
  if (!section.rules && !section.breakGlass?.length && !e.users.length && !e.groups.length) {
    ctx.addIssue({ code: "custom", path: ["rules"], message: "A policy needs rules, or at least exclusions or breakGlass accounts to add." });
  }
}).transform((s) => ({
  name: s.name,
  ...(s.description === undefined ? {} : { description: s.description }),
  tenants: s.tenants,
  rules: s.rules ?? [],
  exclude: s.exclude,
  breakGlass: s.breakGlass ?? [],
}));

const FileShape = z.strictObject({
  version: z.literal(POLICY_FILE_VERSION, {
    error: (iss) =>
      iss.input === undefined
        ? `version is required: start the file with "version: ${POLICY_FILE_VERSION}".`
        : `Unsupported version ${JSON.stringify(iss.input)}: this mfactl reads version ${POLICY_FILE_VERSION} (the number).`,
  }),
  policies: z.array(PolicySectionSchema).min(1, "policies must list at least one policy"),
});

export const PolicyFileSchema = FileShape.superRefine((file, ctx) => {
  const seen = new Set<string>();
  file.policies.forEach((section, index) => {
    const key = section.name.toLowerCase();
    if (seen.has(key)) ctx.addIssue({ code: "custom", path: ["policies", index, "name"], message: `Duplicate policy name ${JSON.stringify(section.name)}.` });
    seen.add(key);
  });
}).describe(`mfactl policy file, version ${POLICY_FILE_VERSION}`);

/** A user must meet every condition given (AND); none given matches everyone. */
export interface PolicyConditions {
  userType?: PolicyUserType | undefined;
  licensed?: boolean | undefined;
  accountEnabled?: boolean | undefined;
  /** Any of these groups (display names as written, object ids lower-cased); nested membership counts. */
  memberOf?: readonly string[] | undefined;
  /** Any of these UPN patterns (`*` is the only wildcard). */
  upn?: readonly string[] | undefined;
}

export interface PolicyRule {
  name: string;
  description?: string | undefined;
  when: PolicyConditions;
  state: MfaState;
}

export interface PolicyExclude {
  /** UPNs as written, object ids lower-cased. */
  users: readonly string[];
  groups: readonly string[];
  directorySyncAccounts: boolean;
}

export interface PolicySection {
  name: string;
  description?: string | undefined;
  /** `["*"]`, or tenant ids and domains, lower-cased. */
  tenants: readonly string[];
  /** Empty when the policy only adds exclusions. */
  rules: readonly PolicyRule[];
  exclude: PolicyExclude;
  breakGlass: readonly string[];
}

/** A parsed, validated policy file: every default filled in, every value canonical. */
export interface Policy {
  version: typeof POLICY_FILE_VERSION;
  policies: readonly PolicySection[];
}

export type PolicyFormat = "json" | "yaml";

/** The extension decides; without a known one, a document opening with `{` or `[` is JSON. */
export function detectPolicyFormat(text: string, source: string): PolicyFormat {
  const lower = source.toLowerCase();
  if (lower.endsWith(".json")) return "json";
  if (lower.endsWith(".yaml") || lower.endsWith(".yml")) return "yaml";
  return /^\s*[{[]/.test(text) ? "json" : "yaml";
}

interface Position {
  line: number;
  col: number;
}

type Path = readonly PropertyKey[];

interface Loaded {
  data: unknown;
  /** Where a path is in the text, when it can be told. */
  locate: (path: Path, key?: boolean) => Position | undefined;
}

/**
 * Parse and validate a policy file. `source` is the file name, used in messages and (by its
 * extension) to tell JSON from YAML. Every problem is a UsageError naming the file and the place.
 */
export function parsePolicy(text: string, source: string): Policy {
  // Editors on Windows write a byte order mark; JSON.parse rejects it.
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const loaded = detectPolicyFormat(body, source) === "json" ? loadJson(body, source) : loadYaml(body, source);
  if (loaded.data === null || loaded.data === undefined) {
    throw new UsageError(`Invalid policy file ${source}: the file is empty; expected "version: ${POLICY_FILE_VERSION}" and "policies".`);
  }
  const result = PolicyFileSchema.safeParse(loaded.data, { error: describeIssue });
  if (result.success) return result.data;
  throw new UsageError(formatProblems(source, issueLines(result.error.issues, loaded)));
}

function syntaxError(source: string, kind: string, where: Position | undefined, message: string): UsageError {
  const at = where ? `line ${where.line}, column ${where.col}: ` : "";
  return new UsageError(`Invalid policy file ${source}: ${at}${kind} syntax error: ${message}`);
}

function yamlLocator(doc: Document, counter: LineCounter): Loaded["locate"] {
  return (path, key) => {
    const range = nodeAt(doc, path, key)?.range;
    return range ? counter.linePos(range[0]) : undefined;
  };
}

function loadYaml(text: string, source: string): Loaded {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    // An unquoted * starts a YAML alias: the likeliest mistake in `tenants: [*]`.
    const hint = first.code === "BAD_ALIAS" ? ' (write "*" in quotes: ["*"])' : "";
    const more = doc.errors.length > 1 ? ` (and ${doc.errors.length - 1} more)` : "";
    throw syntaxError(source, "YAML", counter.linePos(first.pos[0]), `${first.message}${hint}${more}`);
  }
  return { data: doc.toJS({ maxAliasCount: 100 }), locate: yamlLocator(doc, counter) };
}

function loadJson(text: string, source: string): Loaded {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const position = /at position (\d+)/.exec(message);
    const where = position ? positionOf(text, Number(position[1])) : undefined;
    throw syntaxError(source, "JSON", where, message.replace(/ in JSON at position \d+.*$/, "").replace(/\s*\(line \d+ column \d+\)$/, ""));
  }
  // JSON is YAML 1.2: read it again as YAML for positions, and because JSON.parse keeps the last of
  // two equal keys without a word, which could silently replace a stricter setting.
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const duplicate = doc.errors.find((e) => e.code === "DUPLICATE_KEY");
  if (duplicate) throw syntaxError(source, "JSON", counter.linePos(duplicate.pos[0]), "a key appears twice in the same object");
  return { data, locate: doc.errors.length ? () => undefined : yamlLocator(doc, counter) };
}

function positionOf(text: string, offset: number): Position {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, col: offset - before.lastIndexOf("\n") };
}

/** The YAML node at `path` (or, with `key`, the key naming its last step), or the nearest one above it. */
function nodeAt(doc: Document, path: Path, key?: boolean): { range?: [number, number, number] | null | undefined } | undefined {
  let node: unknown = doc.contents;
  let found = node as { range?: [number, number, number] | null } | undefined;
  for (const [index, step] of path.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(step));
      if (!pair) break;
      const keyNode = pair.key as { range?: [number, number, number] | null };
      // `rules:` with nothing after it has no value, or an empty one: point at the key.
      const value = pair.value as { range?: [number, number, number] | null } | null;
      if ((key && index === path.length - 1) || !value || (value.range && value.range[0] === value.range[1])) return keyNode;
      node = pair.value;
    } else if (isSeq(node) && typeof step === "number") {
      node = node.items[step];
    } else break;
    if (node === undefined || node === null) break;
    found = node as { range?: [number, number, number] | null };
  }
  return found;
}

/** `policies[0].rules[1].state`. */
export function formatPolicyPath(path: Path): string {
  let out = "";
  for (const step of path) out += typeof step === "number" ? `[${step}]` : `${out ? "." : ""}${String(step)}`;
  return out || "(top level)";
}

function formatProblems(source: string, lines: string[]): string {
  const unique = [...new Set(lines)];
  if (unique.length === 1) return `Invalid policy file ${source}: ${unique[0]}`;
  const shown = unique.slice(0, 20).map((l) => `  ${l}`);
  if (unique.length > 20) shown.push(`  ... and ${unique.length - 20} more`);
  return `Invalid policy file ${source}: ${unique.length} problems:\n${shown.join("\n")}`;
}

interface Problem {
  where: Position | undefined;
  text: string;
}

function problemAt(path: Path, loaded: Loaded, message: string, key?: boolean): Problem {
  const where = loaded.locate(path, key);
  return { where, text: `${formatPolicyPath(path)}${where ? ` (line ${where.line}, column ${where.col})` : ""}: ${message}` };
}

/** One line per problem, in the order they appear in the file (zod reports inner ones first). */
function issueLines(issues: readonly z.core.$ZodIssue[], loaded: Loaded): string[] {
  const problems = issues.flatMap((issue) => {
    if (issue.code === "unrecognized_keys") {
      const known = knownKeys(issue.path);
      return issue.keys.map((k) => problemAt([...issue.path, k], loaded, unknownKeyMessage(k, known), true));
    }
    return [problemAt(issue.path, loaded, issue.message)];
  });
  const rank = (p: Problem) => (p.where ? p.where.line * 1e6 + p.where.col : Number.MAX_SAFE_INTEGER);
  return problems.sort((a, b) => rank(a) - rank(b)).map((p) => p.text);
}

/** The keys allowed where an unknown one was found, told from the path's shape. */
function knownKeys(path: Path): readonly string[] {
  const last = path[path.length - 1];
  const parent = path[path.length - 2];
  if (path.length === 0) return Object.keys(FileShape.shape);
  if (last === "when") return Object.keys(ConditionsShape.shape);
  if (last === "exclude") return Object.keys(ExcludeShape.shape);
  if (typeof last === "number" && parent === "rules") return Object.keys(PolicyRuleSchema.shape);
  if (typeof last === "number" && parent === "policies") return Object.keys(SectionShape.shape);
  return [];
}

function unknownKeyMessage(key: string, known: readonly string[]): string {
  const close = known.find((k) => k.toLowerCase() === key.toLowerCase()) ?? known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
  const suggestion = close ? ` Did you mean ${JSON.stringify(close)}?` : "";
  const list = known.length ? ` Expected one of: ${known.join(", ")}.` : "";
  return `unknown key ${JSON.stringify(key)}.${suggestion}${list}`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

const REQUIRED_HINTS: Record<string, string> = {
  name: "a name",
  tenants: 'a list of tenant ids or domains, or ["*"]',
  state: MFA_STATES.join(", "),
  policies: "a list of policies",
};

const EXPECTED: Record<string, string> = {
  array: "a list",
  object: "a mapping (key: value)",
  string: "text",
  boolean: "true or false",
  number: "a number",
};

function describeValue(input: unknown): string {
  if (input === null) return "an empty value";
  if (Array.isArray(input)) return "a list";
  if (typeof input === "string") return `the text ${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}...` : input)}`;
  if (typeof input === "object") return "a mapping";
  return String(input);
}

/** Messages for administrators instead of zod's generic ones (our own checks already say what is wrong). */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code !== "invalid_type") return undefined;
  const expected = EXPECTED[issue.expected] ?? issue.expected;
  if (issue.input === undefined) {
    const last = issue.path?.[issue.path.length - 1];
    const hint = typeof last === "string" ? REQUIRED_HINTS[last] : undefined;
    return `required: ${hint ?? expected}.`;
  }
  return `expected ${expected}, got ${describeValue(issue.input)}.`;
}
