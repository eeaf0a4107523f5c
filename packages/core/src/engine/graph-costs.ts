/**
 * What a Graph request costs and what Graph's throttling headers say, as the reference
 * (Throttling, Microsoft Entra / identity and access) documents them.
 */
import type { HttpMethod } from "../transport/types.js";

export interface RequestCost {
  /** Resource units. */
  ru: number;
  /** Writes (POST, PATCH, PUT, DELETE). */
  writes: number;
}

function hasOption(params: URLSearchParams, query: Record<string, string> | undefined, name: string): boolean {
  return params.has(name) || params.has(name.replace("$", "%24")) || (query !== undefined && (name in query || name.replace("$", "%24") in query));
}

function optionValue(params: URLSearchParams, query: Record<string, string> | undefined, name: string): string | undefined {
  return params.get(name) ?? params.get(name.replace("$", "%24")) ?? query?.[name] ?? undefined;
}

/**
 * The documented cost of an identity request: listing users 2 RU, other GETs 1, writes 1 RU and
 * 1 write; `$select` -1, `$expand` +1, `$top` under 20 -1; never below 1. Only an estimate for pacing:
 * the engine corrects it with the `x-ms-resource-unit` Graph returns.
 */
export function estimateCost(method: HttpMethod, url: string, query?: Record<string, string>): RequestCost {
  const q = url.indexOf("?");
  const path = (q < 0 ? url : url.slice(0, q)).replace(/\/+$/, "");
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
  } catch {
    params = new URLSearchParams();
  }
  const write = method !== "GET";
  const isList = !write && /^\/?users$/i.test(path);
  let ru = isList ? 2 : 1;
  if (hasOption(params, query, "$select")) ru -= 1;
  if (hasOption(params, query, "$expand")) ru += 1;
  const top = Number(optionValue(params, query, "$top"));
  if (Number.isFinite(top) && top < 20) ru -= 1;
  return { ru: Math.max(1, ru), writes: write ? 1 : 0 };
}

/** Header lookup that ignores case (sub-response headers come as a plain object). */
export function headerOf(headers: Record<string, string> | Headers | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

/** `x-ms-throttle-limit-percentage` as a share (0.8..1.8), or undefined when absent or unreadable. */
export function limitPercentage(headers: Record<string, string> | Headers | undefined): number | undefined {
  const raw = headerOf(headers, "x-ms-throttle-limit-percentage");
  if (raw === undefined) return undefined;
  const value = Number(raw.trim());
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/** `x-ms-resource-unit`: what Graph charged, or undefined. */
export function resourceUnits(headers: Record<string, string> | Headers | undefined): number | undefined {
  const raw = headerOf(headers, "x-ms-resource-unit");
  if (raw === undefined) return undefined;
  const value = Number(raw.trim());
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** Which of the engine's budgets a 429 names. */
export type ThrottledBudget = "tenantRu" | "tenantWrites" | "appRu" | "appWrites";

/**
 * From `x-ms-throttle-scope` (`<Scope>/<Limit>/<AppId>/<TenantId>`) and `x-ms-throttle-information`
 * (`ResourceUnitLimitExceeded`, `WriteLimitExceeded`): the budget that ran out. Unknown or missing
 * scopes count against the tenant (the safe guess: it pauses only that tenant).
 */
export function throttledBudget(scope: string | undefined, information: string | undefined, isWrite: boolean): ThrottledBudget {
  const [where, limit] = (scope ?? "").split("/");
  const w = (where ?? "").toLowerCase();
  const l = (limit ?? "").toLowerCase();
  const writeLimit = l === "write" || (l === "" && /write/i.test(information ?? "") && isWrite);
  if (w === "application") return writeLimit ? "appWrites" : "appRu";
  if (w === "tenant_application" || w === "tenant") return writeLimit ? "tenantWrites" : "tenantRu";
  if (/write/i.test(information ?? "") && isWrite) return "tenantWrites";
  return "tenantRu";
}

/** A version-relative sub-request URL with a leading slash; refuses absolute URLs and version prefixes. */
export function relativeUrlProblem(url: string): string | undefined {
  if (url === "") return "is empty";
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) return "is absolute; give it relative to the version, e.g. /users/{id}";
  if (/^\/?(v1\.0|beta)(\/|$)/i.test(url)) return "names the version; give it relative to the version, e.g. /users/{id}";
  if (/[#\s]/.test(url)) return "contains an unencoded '#' or space: percent-encode path segments";
  return undefined;
}
