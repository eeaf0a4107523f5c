/**
 * Graph resources: users, beta authentication requirements, authentication methods, groups and their
 * (transitive) members, users' (transitive) memberOf, directory role definitions and assignments.
 */
import { authenticationMethods } from "./auth-methods.js";
import {
  GROUP_PROPERTIES, noProperty, parseDirectorySelect, parseGroupFilter, parseRoleAssignmentFilter, parseRoleDefinitionFilter, parseRoleExpand,
  parseSelectOf, principalObject, projectGroup, projectRoleAssignment, projectRoleDefinition, roleDefinitionById,
  ROLE_ASSIGNMENT_PROPERTIES, ROLE_DEFINITION_PROPERTIES,
} from "./directory-query.js";
import { graphError, type ErrorIds } from "./graph-errors.js";
import type { DirectoryCast, GraphRoute } from "./graph-path.js";
import { ODATA_JSON, type GraphCall, type GraphResult } from "./graph-types.js";
import {
  directGroupsOf, directMembers, effectiveState, findGroup, findUser, ROLE_DEFINITIONS, transitiveGroupsOf, transitiveMembers,
  type DirectoryEntry, type RoleAssignmentRecord, type UserRecord,
} from "./model.js";
import { PER_USER_MFA_STATES, type PerUserMfaState } from "./options.js";
import { MFA_WRITE_ROLES, type GdapRelationship } from "./partner.js";
import {
  applicationsIn, delegatedAdminCustomers, parseApplicationFilter, parseRelationshipFilter, projectAccessAssignment, projectApplication,
  projectRelationship, READ_APPLICATIONS, READ_RELATIONSHIPS, READ_SKUS, subscribedSkus,
} from "./partner-graph.js";
import { parseRegistrationFilter, REGISTRATION_PROPERTIES, registrationDetails, SECURITY_DEFAULTS_POLICY_ID } from "./posture.js";
import type { AppRecord } from "./apps.js";
import type { EmulatorState } from "./state.js";
import {
  checkOptions, encodeSkipToken, isQueryError, parseListQuery, parsePaging, parseSelect, projectUser, SIGN_IN_ACTIVITY, sortUsers,
  type Paging, type QueryError, type UserSelectable,
} from "./users-query.js";

const READ_USERS = ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];
const READ_REQUIREMENTS = ["Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"];
const WRITE_REQUIREMENTS = ["Policy.ReadWrite.AuthenticationMethod"];
const READ_GROUPS = ["GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];
/** A user's memberships are readable with either group or user read permissions. */
const READ_MEMBER_OF = [...READ_GROUPS, "User.Read.All", "User.ReadWrite.All"];
const READ_ROLES = ["RoleManagement.Read.Directory", "RoleManagement.Read.All", "RoleManagement.ReadWrite.Directory", "Directory.Read.All", "Directory.ReadWrite.All"];
const READ_METHODS = ["UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"];
const READ_POLICIES = ["Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"];
const READ_AUDIT_LOG = ["AuditLog.Read.All"];
const READ_REPORTS = ["AuditLog.Read.All", "Reports.Read.All"];
/** The message differs by endpoint in the wild; the code is the same (Report sources: "fails on unlicensed tenants"). */
const NOT_PREMIUM_REPORTS = "Neither tenant is B2C or tenant doesn't have premium license";
const NOT_PREMIUM_SIGN_IN = "Tenant is not a B2C tenant and doesn't have premium license";
/** Graph's page limit when signInActivity is selected (Listing users). */
export const SIGN_IN_ACTIVITY_MAX_PAGE = 500;
const REGISTRATION_OPTIONS = new Set(["$select", "$top", "$skiptoken", "$count", "$filter"]);

/** Any built-in admin role can read users, their MFA state and the directory (Directory Synchronization Accounts cannot). */
const DIRECTORY_READER_ROLES: readonly string[] = ROLE_DEFINITIONS.filter((r) => r.displayName !== "Directory Synchronization Accounts").map((r) => r.id);

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LIST_OPTIONS = new Set(["$select", "$top", "$skiptoken", "$count", "$filter"]);
/** $filter on members / memberOf is not emulated (Graph's advanced queries there are out of scope). */
const DIRECTORY_OBJECT_OPTIONS = new Set(["$select", "$top", "$skiptoken", "$count"]);
const ROLE_ASSIGNMENT_OPTIONS = new Set([...LIST_OPTIONS, "$expand"]);
const ENTITY_OPTIONS = new Set(["$select"]);

/** Graph names the property a stray $expand asks for. */
const noPropertyOn = (type: string) => (name: string) => noProperty(name, type);

type PostureRoute = Extract<GraphRoute, { kind: "securityDefaults" | "caPolicies" | "caPolicy" | "registrationDetails" | "registrationDetail" }>;
type PartnerRoute = Extract<GraphRoute, { kind: "gdapCustomers" | "gdapRelationships" | "applications" | "subscribedSkus" }>;
type DirectoryRoute = Exclude<GraphRoute, { kind: "error" | "userList" | "user" | "requirements" } | PostureRoute | PartnerRoute>;

/** A page of a collection: the OData context, which items qualify and how each is shown. */
interface ListSpec<T> {
  items: readonly T[];
  paging: Paging;
  matches: (x: T) => boolean;
  project: (x: T) => Record<string, unknown>;
  context: string;
}

/** "(a,b)" after an entity set in @odata.context when properties were selected. */
const selected = (select: readonly string[] | undefined) => (select ? `(${select.join(",")})` : "");

const ok = (status: number, body?: unknown): GraphResult =>
  body === undefined ? { status, headers: {} } : { status, headers: { "content-type": ODATA_JSON }, body };

export class GraphRoutes {
  constructor(private readonly state: EmulatorState) {}

  handle(call: GraphCall, route: GraphRoute, options: Map<string, string>): GraphResult {
    const ids: ErrorIds = { requestId: call.requestId, clientRequestId: call.clientRequestId, nowMs: this.state.clock.now() };
    const fail = (e: QueryError) => graphError(e.status, e.code, e.message, ids);
    const methodNotAllowed = () => graphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.", ids);
    const roles = call.caller.roles;
    const delegated = call.caller.delegated;
    if (delegated && route.kind !== "error") {
      // A user's token also needs a directory role that allows the operation (for GDAP: the relationship's roles).
      const write = route.kind === "requirements" && call.method === "PATCH";
      const allowedBy = write ? MFA_WRITE_ROLES : DIRECTORY_READER_ROLES;
      if (!delegated.directoryRoles.some((r) => allowedBy.includes(r))) return this.insufficientPrivileges(ids);
    }
    switch (route.kind) {
      case "error":
        return fail(route.error);
      case "userList":
        if (call.method !== "GET") return methodNotAllowed();
        if (!READ_USERS.some((r) => roles.includes(r))) return this.insufficientPrivileges(ids);
        return this.listUsers(call, options, fail);
      case "user": {
        if (call.method !== "GET") return methodNotAllowed();
        if (!READ_USERS.some((r) => roles.includes(r))) return this.insufficientPrivileges(ids);
        const user = findUser(call.caller.tenant, route.ref);
        if (!user) return this.notFound(route.ref, ids);
        const select = parseSelect(options.get("$select"));
        if (isQueryError(select)) return fail(select);
        const denied = this.signInActivityDenied(call, select, ids);
        if (denied) return denied;
        const context = `${call.graphBase}/${call.version}/$metadata#users${selected(select)}/$entity`;
        return ok(200, { "@odata.context": context, ...projectUser(user, select, true) });
      }
      case "requirements": {
        if (call.method !== "GET" && call.method !== "PATCH") return methodNotAllowed();
        const needed = call.method === "GET" ? READ_REQUIREMENTS : WRITE_REQUIREMENTS;
        if (!needed.some((r) => roles.includes(r))) return graphError(403, "accessDenied", "Request Authorization failed.", ids);
        const user = findUser(call.caller.tenant, route.ref);
        if (!user) return this.notFound(route.ref, ids);
        if (call.method === "GET")
          return ok(200, {
            "@odata.context": `${call.graphBase}/beta/$metadata#users('${encodeURIComponent(route.ref)}')/authentication/requirements/$entity`,
            perUserMfaState: user.perUserMfaState,
          });
        return this.patchRequirements(call, user, ids);
      }
      case "securityDefaults":
      case "caPolicies":
      case "caPolicy":
      case "registrationDetails":
      case "registrationDetail":
        if (call.method !== "GET") return methodNotAllowed();
        return this.posture(call, route, options, ids, fail);
      case "gdapCustomers":
      case "gdapRelationships":
      case "applications":
      case "subscribedSkus":
        if (call.method !== "GET") return methodNotAllowed();
        return this.partnerResource(call, route, options, ids, fail);
      default:
        if (call.method !== "GET") return methodNotAllowed();
        return this.directory(call, route, options, ids, fail);
    }
  }

  /** The read-only directory resources: permission, then the object, then the query. */
  private directory(call: GraphCall, route: DirectoryRoute, options: Map<string, string>, ids: ErrorIds, fail: (e: QueryError) => GraphResult): GraphResult {
    const roles = call.caller.roles;
    const allowed = (needed: readonly string[]) => needed.some((r) => roles.includes(r));
    const tenant = call.caller.tenant;
    const base = `${call.graphBase}/${call.version}/$metadata#`;
    const result = (r: GraphResult | QueryError) => (isQueryError(r) ? fail(r) : r);
    switch (route.kind) {
      case "authMethods": {
        if (!allowed(READ_METHODS)) return this.insufficientPrivileges(ids);
        const user = findUser(tenant, route.ref);
        if (!user) return this.notFound(route.ref, ids);
        // Graph's list of methods takes no query options: they are ignored.
        return ok(200, { "@odata.context": `${base}users('${encodeURIComponent(route.ref)}')/authentication/methods`, value: authenticationMethods(user) });
      }
      case "memberOf": {
        if (!allowed(READ_MEMBER_OF)) return this.insufficientPrivileges(ids);
        const user = findUser(tenant, route.ref);
        if (!user) return this.notFound(route.ref, ids);
        const groups = route.transitive ? transitiveGroupsOf(tenant, user.id, "user") : directGroupsOf(tenant, user.id, "user");
        return result(this.directoryObjects(call, groups.map((group) => ({ kind: "group", group })), route.cast, options));
      }
      case "groupList": {
        if (!allowed(READ_GROUPS)) return this.insufficientPrivileges(ids);
        const unsupported = checkOptions(options, LIST_OPTIONS, noPropertyOn("group"));
        if (unsupported) return fail(unsupported);
        const select = parseSelectOf(options.get("$select"), GROUP_PROPERTIES, "group");
        if (isQueryError(select)) return fail(select);
        const paging = parsePaging(options, call.headers, tenant.id);
        if (isQueryError(paging)) return fail(paging);
        const matches = this.filter(options, parseGroupFilter);
        if (isQueryError(matches)) return fail(matches);
        return this.page(call, { items: tenant.groups, paging, matches, project: (g) => projectGroup(g, select), context: `${base}groups${selected(select)}` });
      }
      case "group": {
        if (!allowed(READ_GROUPS)) return this.insufficientPrivileges(ids);
        const group = this.groupOr(route.id, call, ids);
        if ("status" in group) return group;
        const unsupported = checkOptions(options, ENTITY_OPTIONS, noPropertyOn("group"));
        if (unsupported) return fail(unsupported);
        const select = parseSelectOf(options.get("$select"), GROUP_PROPERTIES, "group");
        if (isQueryError(select)) return fail(select);
        return ok(200, { "@odata.context": `${base}groups${selected(select)}/$entity`, ...projectGroup(group, select) });
      }
      case "groupMembers": {
        if (!allowed(READ_GROUPS)) return this.insufficientPrivileges(ids);
        const group = this.groupOr(route.id, call, ids);
        if ("status" in group) return group;
        const entries = route.transitive ? transitiveMembers(tenant, group) : directMembers(tenant, group);
        return result(this.directoryObjects(call, entries, route.cast, options));
      }
      case "roleDefinitions": {
        if (!allowed(READ_ROLES)) return this.insufficientPrivileges(ids);
        const unsupported = checkOptions(options, LIST_OPTIONS, noPropertyOn("unifiedRoleDefinition"));
        if (unsupported) return fail(unsupported);
        const select = parseSelectOf(options.get("$select"), ROLE_DEFINITION_PROPERTIES, "unifiedRoleDefinition");
        if (isQueryError(select)) return fail(select);
        const paging = parsePaging(options, call.headers, tenant.id);
        if (isQueryError(paging)) return fail(paging);
        const matches = this.filter(options, parseRoleDefinitionFilter);
        if (isQueryError(matches)) return fail(matches);
        const context = `${base}roleManagement/directory/roleDefinitions${selected(select)}`;
        return this.page(call, { items: ROLE_DEFINITIONS, paging, matches, project: (r) => projectRoleDefinition(r, select), context });
      }
      case "roleDefinition": {
        if (!allowed(READ_ROLES)) return this.insufficientPrivileges(ids);
        const definition = roleDefinitionById(route.id);
        if (!definition) return this.notFound(route.id, ids);
        const unsupported = checkOptions(options, ENTITY_OPTIONS, noPropertyOn("unifiedRoleDefinition"));
        if (unsupported) return fail(unsupported);
        const select = parseSelectOf(options.get("$select"), ROLE_DEFINITION_PROPERTIES, "unifiedRoleDefinition");
        if (isQueryError(select)) return fail(select);
        return ok(200, { "@odata.context": `${base}roleManagement/directory/roleDefinitions${selected(select)}/$entity`, ...projectRoleDefinition(definition, select) });
      }
      case "roleAssignments":
      case "roleAssignment": {
        if (!allowed(READ_ROLES)) return this.insufficientPrivileges(ids);
        return result(this.roleAssignments(call, route.kind === "roleAssignment" ? route.id : undefined, options, ids));
      }
    }
  }

  /** GDAP customers and relationships (the caller's tenant as partner), app registrations, licences. */
  private partnerResource(call: GraphCall, route: PartnerRoute, options: Map<string, string>, ids: ErrorIds, fail: (e: QueryError) => GraphResult): GraphResult {
    const roles = call.caller.roles;
    const tenant = call.caller.tenant;
    const base = `${call.graphBase}/${call.version}/$metadata#`;
    const paging = parsePaging(options, call.headers, tenant.id);
    if (isQueryError(paging)) return fail(paging);
    const unsupported = (what: string) => fail({ status: 400, code: "BadRequest", message: `The emulator supports only ${what} here.` });
    const all = <T>(items: readonly T[], project: (x: T) => Record<string, unknown>, context: string, matches: (x: T) => boolean = () => true) =>
      this.page(call, { items, paging, matches, project, context });
    switch (route.kind) {
      case "gdapCustomers":
      case "gdapRelationships": {
        if (!READ_RELATIONSHIPS.some((r) => roles.includes(r))) return graphError(403, "Forbidden", "Missing role permissions on the request. API requires one of 'DelegatedAdminRelationship.Read.All, DelegatedAdminRelationship.ReadWrite.All'.", ids);
        const relationships = (this.state.partner?.relationships ?? []).filter((r) => r.partnerTenantId === tenant.id);
        if (route.kind === "gdapCustomers") {
          const customers = delegatedAdminCustomers(relationships, tenant.id);
          if (route.id === undefined) return all(customers, (c) => c, `${base}tenantRelationships/delegatedAdminCustomers`);
          const one = customers.find((c) => String(c["id"]).toLowerCase() === route.id?.toLowerCase());
          return one ? ok(200, { "@odata.context": `${base}tenantRelationships/delegatedAdminCustomers/$entity`, ...one }) : this.notFound(route.id, ids);
        }
        if (route.id === undefined) {
          const text = options.get("$filter");
          let matches: (r: GdapRelationship) => boolean = () => true;
          if (text !== undefined && text.trim() !== "") {
            const parsed = parseRelationshipFilter(text);
            if (!parsed) return unsupported("$filter=customer/tenantId eq '<id>'");
            matches = parsed;
          }
          return all(relationships, projectRelationship, `${base}tenantRelationships/delegatedAdminRelationships`, matches);
        }
        const rel = relationships.find((r) => r.id.toLowerCase() === route.id?.toLowerCase());
        if (!rel) return this.notFound(route.id, ids);
        if (route.accessAssignments)
          return all([rel], projectAccessAssignment, `${base}tenantRelationships/delegatedAdminRelationships('${rel.id}')/accessAssignments`);
        return ok(200, { "@odata.context": `${base}tenantRelationships/delegatedAdminRelationships/$entity`, ...projectRelationship(rel) });
      }
      case "applications": {
        if (!READ_APPLICATIONS.some((r) => roles.includes(r))) return this.insufficientPrivileges(ids);
        const text = options.get("$filter");
        let matches: (a: AppRecord) => boolean = () => true;
        if (text !== undefined && text.trim() !== "") {
          const parsed = parseApplicationFilter(text);
          if (!parsed) return unsupported("$filter=appId eq '<id>'");
          matches = parsed;
        }
        return all(applicationsIn(this.state, tenant), (a) => projectApplication(a, this.state), `${base}applications`, matches);
      }
      case "subscribedSkus":
        if (!READ_SKUS.some((r) => roles.includes(r))) return this.insufficientPrivileges(ids);
        return all(subscribedSkus(tenant), (s) => s, `${base}subscribedSkus`);
    }
  }

  /** 400 for an id that is not a GUID (as Graph answers), 404 for an unknown one. */
  private groupOr(id: string, call: GraphCall, ids: ErrorIds) {
    if (!GUID.test(id)) return graphError(400, "Request_BadRequest", `Invalid object identifier '${id}'.`, ids);
    return findGroup(call.caller.tenant, id) ?? this.notFound(id, ids);
  }

  private filter<T>(options: Map<string, string>, parse: (text: string) => ((x: T) => boolean) | QueryError): ((x: T) => boolean) | QueryError {
    const text = options.get("$filter");
    return text === undefined || text.trim() === "" ? () => true : parse(text);
  }

  /** members, transitiveMembers, memberOf, transitiveMemberOf: users and groups, each with its @odata.type. */
  private directoryObjects(call: GraphCall, entries: readonly DirectoryEntry[], cast: DirectoryCast, options: Map<string, string>): GraphResult | QueryError {
    const typeName = cast === "user" || cast === "group" ? cast : "directoryObject";
    const unsupported = checkOptions(options, DIRECTORY_OBJECT_OPTIONS, noPropertyOn(typeName));
    if (unsupported) return unsupported;
    const select = parseDirectorySelect(options.get("$select"), cast === "user" || cast === "group" ? cast : undefined);
    if (isQueryError(select)) return select;
    const paging = parsePaging(options, call.headers, call.caller.tenant.id);
    if (isQueryError(paging)) return paging;
    const includeState = !this.state.config.omitPerUserMfaStateInList;
    // Only users and groups exist here: a cast to any other directory type is an empty collection.
    const items = cast === undefined ? entries : cast === "other" ? [] : entries.filter((e) => e.kind === cast);
    const set = cast === "user" ? "users" : cast === "group" ? "groups" : "directoryObjects";
    const context = `${call.graphBase}/${call.version}/$metadata#${set}${selected(select.names)}`;
    const project = (e: DirectoryEntry): Record<string, unknown> =>
      e.kind === "user"
        ? { "@odata.type": "#microsoft.graph.user", ...projectUser(e.user, select.user, includeState) }
        : { "@odata.type": "#microsoft.graph.group", ...projectGroup(e.group, select.group) };
    return this.page(call, { items, paging, matches: () => true, project, context });
  }

  private roleAssignments(call: GraphCall, id: string | undefined, options: Map<string, string>, ids: ErrorIds): GraphResult | QueryError {
    const tenant = call.caller.tenant;
    let single: RoleAssignmentRecord | undefined;
    if (id !== undefined) {
      single = tenant.roleAssignments.find((a) => a.id === id);
      if (!single) return this.notFound(id, ids);
    }
    const unsupported = checkOptions(options, single ? new Set([...ENTITY_OPTIONS, "$expand"]) : ROLE_ASSIGNMENT_OPTIONS, noPropertyOn("unifiedRoleAssignment"));
    if (unsupported) return unsupported;
    const select = parseSelectOf(options.get("$select"), ROLE_ASSIGNMENT_PROPERTIES, "unifiedRoleAssignment");
    if (isQueryError(select)) return select;
    const expand = parseRoleExpand(options.get("$expand"));
    if (isQueryError(expand)) return expand;
    const project = (a: RoleAssignmentRecord) => {
      const out = projectRoleAssignment(a, select);
      for (const e of expand) {
        if (e === "principal") {
          const user = tenant.byId.get(a.principalId);
          out["principal"] = user ? principalObject(user) : null;
        } else {
          const definition = roleDefinitionById(a.roleDefinitionId);
          out["roleDefinition"] = definition ? projectRoleDefinition(definition, undefined) : null;
        }
      }
      return out;
    };
    const shape = [...(select ?? []), ...expand.map((e) => `${e}()`)];
    const context = `${call.graphBase}/${call.version}/$metadata#roleManagement/directory/roleAssignments${shape.length > 0 ? `(${shape.join(",")})` : ""}`;
    if (single) return ok(200, { "@odata.context": `${context}/$entity`, ...project(single) });
    const paging = parsePaging(options, call.headers, tenant.id);
    if (isQueryError(paging)) return paging;
    const matches = this.filter(options, parseRoleAssignmentFilter);
    if (isQueryError(matches)) return matches;
    return this.page(call, { items: tenant.roleAssignments, paging, matches, project, context });
  }

  private insufficientPrivileges(ids: ErrorIds): GraphResult {
    return graphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", ids);
  }

  private notFound(ref: string, ids: ErrorIds): GraphResult {
    return graphError(404, "Request_ResourceNotFound", `Resource '${ref}' does not exist or one of its queried reference-property objects are not present.`, ids);
  }

  /** signInActivity needs AuditLog.Read.All and a premium tenant (Report sources: "Last sign-in"). */
  private signInActivityDenied(call: GraphCall, select: readonly UserSelectable[] | undefined, ids: ErrorIds): GraphResult | undefined {
    if (!select?.includes(SIGN_IN_ACTIVITY)) return undefined;
    if (!READ_AUDIT_LOG.some((r) => call.caller.roles.includes(r))) return this.insufficientPrivileges(ids);
    if (!call.caller.tenant.premium) return graphError(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", NOT_PREMIUM_SIGN_IN, ids);
    return undefined;
  }

  /** Security defaults, Conditional Access policies and the registration report. */
  private posture(call: GraphCall, route: PostureRoute, options: Map<string, string>, ids: ErrorIds, fail: (e: QueryError) => GraphResult): GraphResult {
    const roles = call.caller.roles;
    const tenant = call.caller.tenant;
    const base = `${call.graphBase}/${call.version}/$metadata#`;
    const notPremium = () => graphError(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", NOT_PREMIUM_REPORTS, ids);
    switch (route.kind) {
      case "securityDefaults": {
        if (!READ_POLICIES.some((r) => roles.includes(r))) return this.insufficientPrivileges(ids);
        const select = parseSelectOf(options.get("$select"), ["id", "displayName", "description", "isEnabled"], "identitySecurityDefaultsEnforcementPolicy");
        if (isQueryError(select)) return fail(select);
        const full: Record<string, unknown> = {
          id: SECURITY_DEFAULTS_POLICY_ID,
          displayName: "Security Defaults",
          description:
            "Security defaults is a set of basic identity security mechanisms recommended by Microsoft. When enabled, these recommendations will be automatically enforced in your organization. Administrators and users will be better protected from common identity related attacks.",
          isEnabled: tenant.securityDefaultsEnabled,
        };
        const body: Record<string, unknown> = { "@odata.context": `${base}policies/identitySecurityDefaultsEnforcementPolicy${selected(select)}/$entity` };
        for (const k of select ?? Object.keys(full)) body[k] = full[k];
        return ok(200, body);
      }
      case "caPolicies":
      case "caPolicy": {
        if (!READ_POLICIES.some((r) => roles.includes(r))) return this.insufficientPrivileges(ids);
        if (!tenant.premium) return notPremium();
        const context = `${base}identity/conditionalAccess/policies`;
        if (route.kind === "caPolicy") {
          const p = tenant.conditionalAccessPolicies.find((x) => x.id === route.id.toLowerCase());
          if (!p) return this.notFound(route.id, ids);
          return ok(200, { "@odata.context": `${context}/$entity`, ...structuredClone(p) });
        }
        // Graph answers the whole list in one page here.
        return ok(200, { "@odata.context": context, value: structuredClone(tenant.conditionalAccessPolicies) });
      }
      default: {
        if (!READ_REPORTS.some((r) => roles.includes(r))) return this.insufficientPrivileges(ids);
        if (!tenant.premium) return notPremium();
        const adminIds = new Set(tenant.roleAssignments.map((a) => a.principalId));
        const select = parseSelectOf(options.get("$select"), REGISTRATION_PROPERTIES, "userRegistrationDetails");
        if (isQueryError(select)) return fail(select);
        const project = (u: UserRecord) => {
          const row = registrationDetails(u, adminIds);
          if (!select) return row;
          const out: Record<string, unknown> = {};
          for (const k of select) out[k] = row[k];
          return out;
        };
        const context = `${base}reports/authenticationMethods/userRegistrationDetails${selected(select)}`;
        if (route.kind === "registrationDetail") {
          const u = tenant.byId.get(route.id.toLowerCase());
          // Disabled accounts are not in the report.
          if (!u || !u.accountEnabled) return this.notFound(route.id, ids);
          return ok(200, { "@odata.context": `${context}/$entity`, ...project(u) });
        }
        const unsupported = checkOptions(options, REGISTRATION_OPTIONS, noPropertyOn("userRegistrationDetails"));
        if (unsupported) return fail(unsupported);
        const paging = parsePaging(options, call.headers, tenant.id);
        if (isQueryError(paging)) return fail(paging);
        const filter = this.filter<UserRecord>(options, (text) => parseRegistrationFilter(text, adminIds));
        if (isQueryError(filter)) return fail(filter);
        return this.page(call, { items: tenant.users, paging, matches: (u) => u.accountEnabled && filter(u), project, context });
      }
    }
  }

  private listUsers(call: GraphCall, options: Map<string, string>, fail: (e: QueryError) => GraphResult): GraphResult {
    const tenant = call.caller.tenant;
    const query = parseListQuery(options, call.headers, tenant.id);
    if (isQueryError(query)) return fail(query);
    const ids: ErrorIds = { requestId: call.requestId, clientRequestId: call.clientRequestId, nowMs: this.state.clock.now() };
    const denied = this.signInActivityDenied(call, query.select, ids);
    if (denied) return denied;
    if (query.select?.includes(SIGN_IN_ACTIVITY) && query.top > SIGN_IN_ACTIVITY_MAX_PAGE)
      return fail({
        status: 400,
        code: "Request_BadRequest",
        message: `Invalid page size specified: '${query.top}'. Must be between 1 and ${SIGN_IN_ACTIVITY_MAX_PAGE} inclusive when signInActivity is selected.`,
      });
    const includeState = !this.state.config.omitPerUserMfaStateInList;
    return this.page(call, {
      // $skiptoken is a position in this order, so following pages keep it.
      items: query.order ? sortUsers(tenant.users, query.order) : tenant.users,
      paging: { top: query.top, count: query.count, eventual: false, start: query.start },
      matches: query.matches,
      project: (u: UserRecord) => projectUser(u, query.select, includeState),
      context: `${call.graphBase}/${call.version}/$metadata#users${selected(query.select)}`,
    });
  }

  /** One page from `paging.start`; the skiptoken is the scan position, so pages never repeat or skip. */
  private page<T>(call: GraphCall, spec: ListSpec<T>): GraphResult {
    const { items, paging, matches } = spec;
    const value: Record<string, unknown>[] = [];
    let i = paging.start;
    for (; i < items.length && value.length < paging.top; i++) {
      const x = items[i] as T;
      if (matches(x)) value.push(spec.project(x));
    }
    // Only link to a next page that has at least one item.
    while (i < items.length && !matches(items[i] as T)) i++;
    const body: Record<string, unknown> = { "@odata.context": spec.context };
    if (paging.count) body["@odata.count"] = items.reduce((n, x) => (matches(x) ? n + 1 : n), 0);
    if (i < items.length) body["@odata.nextLink"] = this.nextLink(call, encodeSkipToken(call.caller.tenant.id, i));
    body["value"] = value;
    return ok(200, body);
  }

  /** The request's own query (as the client encoded it) with $skiptoken replaced. */
  private nextLink(call: GraphCall, token: string): string {
    const q = call.pathAndQuery.indexOf("?");
    const path = q < 0 ? call.pathAndQuery : call.pathAndQuery.slice(0, q);
    const parts = q < 0 ? [] : call.pathAndQuery.slice(q + 1).split("&").filter((p) => p && !/^(%24|\$)skiptoken=/i.test(p));
    parts.push(`$skiptoken=${token}`);
    return `${call.graphBase}/${call.version}${path}?${parts.join("&")}`;
  }

  private patchRequirements(call: GraphCall, user: UserRecord, ids: ErrorIds): GraphResult {
    const bad = (message: string) => graphError(400, "BadRequest", message, ids);
    let body: unknown = call.bodyJson;
    if (body === undefined) {
      if (call.bodyText === undefined || call.bodyText.trim() === "") return bad("Empty Payload. JSON content expected.");
      const jsonType = /\bjson\b/i.test(call.headers["content-type"] ?? "");
      try {
        if (!jsonType) throw new Error("not JSON");
        body = JSON.parse(call.bodyText);
      } catch {
        return bad("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.");
      }
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) return bad("Invalid request body: a JSON object is expected.");
    const entries = Object.entries(body).filter(([k]) => !k.startsWith("@odata."));
    for (const [k] of entries)
      if (k !== "perUserMfaState")
        return bad(`The property '${k}' does not exist on type 'microsoft.graph.strongAuthenticationRequirements'. Make sure to only use property names that are defined by the type.`);
    if (entries.length === 0) return bad("The request body must contain the property 'perUserMfaState'.");
    const value = (body as Record<string, unknown>)["perUserMfaState"];
    if (value === "unknownFutureValue") return bad("The value 'unknownFutureValue' is reserved and cannot be set for property 'perUserMfaState'.");
    if (typeof value !== "string" || !PER_USER_MFA_STATES.includes(value as PerUserMfaState))
      return bad(`Cannot convert the literal '${String(value)}' to the expected type 'microsoft.graph.perUserMfaState'.`);
    user.perUserMfaState = effectiveState(value as PerUserMfaState, user.methods);
    user.patchCount++;
    const stats = this.state.stats;
    stats.patches++;
    const key = `${call.caller.tenant.id}/${user.id}`;
    stats.patchesByUser[key] = (stats.patchesByUser[key] ?? 0) + 1;
    return ok(204);
  }
}
