/** Deterministic tenants, users, groups and role assignments from a seed (fast enough for 100,000-user tenants). */
import {
  DIRECTORY_SYNCHRONIZATION_ACCOUNTS, GLOBAL_ADMINISTRATOR, roleAssignmentId,
  type GroupRecord, type RoleAssignmentRecord, type Tenant, type UserRecord,
} from "./model.js";
import { seedPosture } from "./posture.js";
import { createPrng, type Prng } from "./prng.js";
import type { PerUserMfaState, SeedParams } from "./options.js";

const NAMED_DOMAINS = ["contoso", "fabrikam", "northwind", "tailspin", "woodgrove", "adatum", "litware", "wingtip"];

const FIRST_NAMES = [
  "Adele", "Alex", "Allan", "Ana", "Ben", "Carla", "Chloé", "Christie", "Daniel", "Debra", "Diego", "Emily", "Enrico",
  "François", "Grady", "Hana", "Henrietta", "Isaiah", "Jakub", "Joni", "José", "Kai", "Lee", "Lidia", "Lynne", "Łukasz",
  "Małgorzata", "Megan", "Miriam", "Nestor", "Núria", "Patti", "Pradeep", "Priya", "Renée", "Sakura", "Søren", "Tomás",
  "Wei", "Yusuf", "Zoë", "Björn", "Aoife", "Mateo", "Olga", "Ravi", "Sven", "Ingrid", "Kwame", "Fatima",
];
const LAST_NAMES = [
  "Adams", "Bowen", "Brown", "Castillo", "Chen", "Deyoung", "Dubois", "Fernández", "García", "Gonzalez", "Gupta", "Hansen",
  "Ito", "Johansson", "Jones", "Kowalski", "Larsen", "Lee", "Martin", "Müller", "Nguyen", "Novak", "O'Neil", "O'Connor",
  "Patel", "Petrov", "Rossi", "Schmidt", "Smith", "Søndergaard", "Suzuki", "Taylor", "Vance", "Wagner", "Walsh", "Wilber",
  "Williams", "Wójcik", "Yamamoto", "Zhang", "Ødegaard", "Brennan", "Okafor", "Haddad", "Kim", "Silva", "Novotný",
];
const NICKNAMES = ["Bo", "Jay", "Kit", "Max", "Sam", "Tee"];
const GUEST_DOMAINS = ["fabrikam.com", "gmail.com", "outlook.com", "partner.example", "contractor.example"];
const METHOD_SETS: readonly (readonly string[])[] = [
  ["microsoftAuthenticatorPush"],
  ["microsoftAuthenticatorPush", "mobilePhone"],
  ["mobilePhone"],
  ["softwareOneTimePasscode"],
  ["microsoftAuthenticatorPush", "softwareOneTimePasscode"],
  ["fido2", "microsoftAuthenticatorPush"],
  ["windowsHelloForBusiness", "microsoftAuthenticatorPush"],
];
const NO_METHODS: readonly string[] = [];

/** Letters only, no diacritics: the UPN form of a name. */
function asciiName(name: string): string {
  const special: Record<string, string> = { ø: "o", Ø: "o", ł: "l", Ł: "l", ß: "ss", æ: "ae", đ: "d" };
  return name
    .replace(/[øØłŁßæđ]/g, (c) => special[c] ?? c)
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "");
}
const FIRST_ASCII = FIRST_NAMES.map(asciiName);
const LAST_ASCII = LAST_NAMES.map(asciiName);

export function tenantDomain(index: number): string {
  const named = NAMED_DOMAINS[index];
  return `${named ?? `tenant${index + 1}`}.onmicrosoft.com`;
}

function tenantDisplayName(index: number): string {
  const named = NAMED_DOMAINS[index];
  return named ? named.charAt(0).toUpperCase() + named.slice(1) : `Tenant ${index + 1}`;
}

interface FixedUser {
  local: string;
  displayName: string;
  givenName: string | null;
  surname: string | null;
  userType: "Member" | "Guest";
  accountEnabled: boolean;
  licensed: boolean;
  methods: readonly string[];
  state: PerUserMfaState;
  mail?: string;
}

const FIXED_USERS: readonly FixedUser[] = [
  { local: "admin", displayName: "Tenant Admin", givenName: null, surname: null, userType: "Member", accountEnabled: true, licensed: true, methods: ["microsoftAuthenticatorPush", "mobilePhone"], state: "enforced" },
  { local: "adele.vance", displayName: "Adele Vance", givenName: "Adele", surname: "Vance", userType: "Member", accountEnabled: true, licensed: true, methods: ["microsoftAuthenticatorPush"], state: "disabled" },
  { local: "alex.wilber", displayName: "Alex Wilber", givenName: "Alex", surname: "Wilber", userType: "Member", accountEnabled: true, licensed: true, methods: NO_METHODS, state: "disabled" },
  { local: "megan.bowen", displayName: "Megan Bowen", givenName: "Megan", surname: "Bowen", userType: "Member", accountEnabled: true, licensed: true, methods: NO_METHODS, state: "enabled" },
  { local: "john.doe_fabrikam.com#EXT#", displayName: "John Doe (Guest)", givenName: "John", surname: "Doe", userType: "Guest", accountEnabled: true, licensed: false, methods: NO_METHODS, state: "disabled", mail: "john.doe@fabrikam.com" },
  { local: "former.employee", displayName: "Former Employee", givenName: "Former", surname: "Employee", userType: "Member", accountEnabled: false, licensed: true, methods: NO_METHODS, state: "disabled" },
  // Seeded as "enabled" in spirit, but a user with methods reads back as enforced.
  { local: "o'brien", displayName: "Pat O'Brien", givenName: "Pat", surname: "O'Brien", userType: "Member", accountEnabled: true, licensed: true, methods: ["mobilePhone"], state: "enforced" },
  { local: "breakglass", displayName: "Break Glass (emergency access)", givenName: null, surname: null, userType: "Member", accountEnabled: true, licensed: false, methods: ["fido2"], state: "disabled" },
  // Entra Connect's account: Sync_<server>_<12 hex>; the hex comes from the directory stream.
  { local: "Sync_SRV01_{hex}", displayName: "On-Premises Directory Synchronization Service Account", givenName: null, surname: null, userType: "Member", accountEnabled: true, licensed: false, methods: NO_METHODS, state: "disabled" },
];

/**
 * The first seven fixed users take their ids from the users stream, as they always have; later ones from
 * the directory stream, so every generated user keeps its draws (and its UPN number, which counts from 8).
 */
const USERS_STREAM_FIXED = 7;
/** Positions of the fixed users the directory refers to. */
const ADMIN = 0;
const ADELE = 1;
const GUEST = 4;
const BREAKGLASS = 7;
const SYNC = 8;

/** The seeded groups, in listing order (their ids are drawn in this order too). */
const GROUPS = [
  { name: "All Staff", description: "Every enabled, licensed member account." },
  { name: "Finance", description: "Finance department." },
  { name: "Service Accounts", description: "Non-interactive accounts used by line-of-business apps." },
  { name: "MFA Exclusions", description: "Excluded from MFA requirements: review regularly." },
  { name: "Emergency Access", description: "Break-glass accounts excluded from Conditional Access." },
  { name: "Contractors", description: "External contractors (through nested groups)." },
  { name: "External Contractors", description: "Guest accounts of contractors." },
  { name: "Partner Support", description: "Partner support engineers." },
] as const;

/** User, Security and Authentication Policy Administrator: one of them on about 3% of generated members. */
const DELEGATED_ROLES = ["fe930be7-5e62-47db-91af-98c3a49a38b1", "194ae4cb-b126-40b2-bd5b-6091b380977d", "0526716b-113d-4c15-b2c8-68e3c22b9f80"];

function fixedUser(f: FixedUser, domain: string, id: string, syncHex: string): UserRecord {
  const upn = `${f.local.replace("{hex}", syncHex)}@${domain}`;
  return {
    id,
    userPrincipalName: upn,
    displayName: f.displayName,
    givenName: f.givenName,
    surname: f.surname,
    userType: f.userType,
    accountEnabled: f.accountEnabled,
    licensed: f.licensed,
    mail: f.mail ?? (f.licensed ? upn : null),
    methods: f.methods,
    perUserMfaState: f.state,
    patchCount: 0,
    lastSignInDateTime: null,
  };
}

function generatedUser(n: number, domain: string, prng: Prng): UserRecord {
  const fi = prng.int(FIRST_NAMES.length);
  const li = prng.int(LAST_NAMES.length);
  const first = FIRST_NAMES[fi] as string;
  const last = LAST_NAMES[li] as string;
  const local = `${FIRST_ASCII[fi] as string}.${LAST_ASCII[li] as string}${n}`;
  const guest = prng.next() < 0.15;
  const accountEnabled = prng.next() >= 0.05;
  const licensed = !guest && prng.next() < 0.75;
  const methods = prng.next() < 0.55 ? prng.pick(METHOD_SETS) : NO_METHODS;
  // 25% enforced; 15% enabled overall, only possible without methods (0.45 * 0.75 * q = 0.15).
  const r = prng.next();
  let state: PerUserMfaState = "disabled";
  if (r < 0.25) state = "enforced";
  else if (methods.length === 0 && prng.next() < 0.4444) state = "enabled";
  // Display names exercise CSV quoting and Unicode: commas, double quotes, accents.
  const style = prng.next();
  let displayName = `${first} ${last}`;
  if (style < 0.06) displayName = `${last}, ${first}`;
  else if (style < 0.09) displayName = `${first} "${prng.pick(NICKNAMES)}" ${last}`;
  let upn: string;
  let mail: string | null;
  if (guest) {
    const home = prng.pick(GUEST_DOMAINS);
    upn = `${local}_${home}#EXT#@${domain}`;
    mail = `${local}@${home}`;
  } else {
    upn = `${local}@${domain}`;
    mail = licensed ? upn : null;
  }
  return {
    id: prng.guid(),
    userPrincipalName: upn,
    displayName,
    givenName: first,
    surname: last,
    userType: guest ? "Guest" : "Member",
    accountEnabled,
    licensed,
    mail,
    methods,
    perUserMfaState: state,
    patchCount: 0,
    lastSignInDateTime: null,
  };
}

export function tenantId(seed: string, index: number): string {
  return createPrng(`${seed}/tenant/${index}`).guid();
}

/** A tenant's name and id when they do not follow its index (the partner tenant and its customers). */
export interface TenantNaming {
  id: string;
  domain: string;
  displayName: string;
}

export function seedTenant(seed: string, index: number, userCount: number, naming?: TenantNaming): Tenant {
  const domain = naming?.domain ?? tenantDomain(index);
  const prng = createPrng(`${seed}/tenant/${index}/users`);
  // Groups, roles and the later fixed users have their own stream: the users stream stays as it was.
  const directory = createPrng(`${seed}/tenant/${index}/directory`);
  // Drawn whatever the tenant size, so ids stay put when more users are asked for.
  const syncHex = Array.from({ length: 12 }, () => directory.int(16).toString(16)).join("");
  const laterFixedIds = FIXED_USERS.slice(USERS_STREAM_FIXED).map(() => directory.guid());
  const groupIds = GROUPS.map(() => directory.guid());

  const users: UserRecord[] = [];
  for (let i = 0; i < Math.min(userCount, FIXED_USERS.length); i++)
    users.push(fixedUser(FIXED_USERS[i] as FixedUser, domain, i < USERS_STREAM_FIXED ? prng.guid() : (laterFixedIds[i - USERS_STREAM_FIXED] as string), syncHex));
  for (let n = USERS_STREAM_FIXED + 1; users.length < userCount; n++) users.push(generatedUser(n, domain, prng));
  const byId = new Map<string, UserRecord>();
  const byUpn = new Map<string, UserRecord>();
  for (const u of users) {
    byId.set(u.id, u);
    byUpn.set(u.userPrincipalName.toLowerCase(), u);
  }
  const { groups, roleAssignments } = seedDirectory(users, groupIds, directory);
  const groupsById = new Map(groups.map((g) => [g.id, g]));
  const tenant: Tenant = {
    id: naming?.id ?? tenantId(seed, index), domain, displayName: naming?.displayName ?? tenantDisplayName(index), users, byId, byUpn, groups, groupsById, roleAssignments,
    premium: false, securityDefaultsEnabled: false, conditionalAccessPolicies: [],
  };
  // Licence, policies and sign-ins come from their own stream: users, groups and roles are as before.
  seedPosture(seed, index, tenant);
  return tenant;
}

/** Role assignments and groups over the seeded users, in one pass over the generated ones (no quadratic work). */
function seedDirectory(users: readonly UserRecord[], groupIds: readonly string[], directory: Prng): { groups: GroupRecord[]; roleAssignments: RoleAssignmentRecord[] } {
  const roleAssignments: RoleAssignmentRecord[] = [];
  const assign = (roleDefinitionId: string, user: UserRecord | undefined) => {
    if (user) roleAssignments.push({ id: roleAssignmentId(roleDefinitionId, user.id), roleDefinitionId, principalId: user.id, directoryScopeId: "/" });
  };
  assign(GLOBAL_ADMINISTRATOR, users[ADMIN]);
  assign(GLOBAL_ADMINISTRATOR, users[BREAKGLASS]);
  assign(DIRECTORY_SYNCHRONIZATION_ACCOUNTS, users[SYNC]);

  const generated = users.slice(FIXED_USERS.length);
  const members = generated.filter((u) => u.userType === "Member");
  const finance: string[] = users[ADELE] ? [users[ADELE].id] : [];
  // Two draws per generated member, in user order: the first users' groups and roles stay put as the tenant grows.
  for (const u of members) {
    if (directory.next() < 0.1) finance.push(u.id);
    if (directory.next() < 0.03) assign(directory.pick(DELEGATED_ROLES), u);
  }
  // Without every fixed user there is nothing to put in the emergency-access and contractor groups.
  if (users.length < FIXED_USERS.length) return { groups: [], roleAssignments };

  const pickDistinct = (pool: readonly UserRecord[], count: number, taken: ReadonlySet<string>): string[] => {
    const free = pool.filter((u) => !taken.has(u.id));
    const out: string[] = [];
    while (out.length < count && free.length > 0) out.push((free.splice(directory.int(free.length), 1)[0] as UserRecord).id);
    return out;
  };
  const serviceAccounts = pickDistinct(members, 2, new Set());
  const excludedDirectly = pickDistinct(members, 1, new Set(serviceAccounts));
  const guests = users.filter((u) => u.userType === "Guest");
  const guestUser = users[GUEST] as UserRecord;
  const partnerSupport = [guestUser.id, ...pickDistinct(guests, 1, new Set([guestUser.id]))];

  const [allStaff, financeId, service, mfaExclusions, emergency, contractors, external, partner] = groupIds as [string, string, string, string, string, string, string, string];
  const group = (id: string, i: number, memberIds: readonly string[], memberGroupIds: readonly string[] = []): GroupRecord => {
    const spec = GROUPS[i] as (typeof GROUPS)[number];
    return { id, displayName: spec.name, description: spec.description, memberIds, memberGroupIds };
  };
  const groups = [
    group(allStaff, 0, users.filter((u) => u.userType === "Member" && u.accountEnabled && u.licensed).map((u) => u.id)),
    group(financeId, 1, finance),
    group(service, 2, serviceAccounts),
    group(mfaExclusions, 3, excludedDirectly, [service]),
    group(emergency, 4, [(users[BREAKGLASS] as UserRecord).id]),
    // Contractors > External Contractors > Partner Support: two levels of nesting, and the fixed guest
    // is reached on two paths (transitive listings must show it once).
    group(contractors, 5, [], [external]),
    group(external, 6, guests.map((u) => u.id), [partner]),
    group(partner, 7, partnerSupport),
  ];
  return { groups, roleAssignments };
}

export function seedTenants(params: SeedParams): Tenant[] {
  const tenants: Tenant[] = [];
  for (let i = 0; i < params.tenants; i++) tenants.push(seedTenant(params.seed, i, params.users));
  return tenants;
}
