/** Deterministic tenants and users from a seed (fast enough for 100,000-user tenants). */
import { type Tenant, type UserRecord } from "./model.js";
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
];

function fixedUser(f: FixedUser, domain: string, prng: Prng): UserRecord {
  const upn = `${f.local}@${domain}`;
  return {
    id: prng.guid(),
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
  };
}

export function tenantId(seed: string, index: number): string {
  return createPrng(`${seed}/tenant/${index}`).guid();
}

export function seedTenant(seed: string, index: number, userCount: number): Tenant {
  const domain = tenantDomain(index);
  const prng = createPrng(`${seed}/tenant/${index}/users`);
  const users: UserRecord[] = [];
  for (let i = 0; i < Math.min(userCount, FIXED_USERS.length); i++) users.push(fixedUser(FIXED_USERS[i] as FixedUser, domain, prng));
  for (let n = users.length + 1; users.length < userCount; n++) users.push(generatedUser(n, domain, prng));
  const byId = new Map<string, UserRecord>();
  const byUpn = new Map<string, UserRecord>();
  for (const u of users) {
    byId.set(u.id, u);
    byUpn.set(u.userPrincipalName.toLowerCase(), u);
  }
  return { id: tenantId(seed, index), domain, displayName: tenantDisplayName(index), users, byId, byUpn };
}

export function seedTenants(params: SeedParams): Tenant[] {
  const tenants: Tenant[] = [];
  for (let i = 0; i < params.tenants; i++) tenants.push(seedTenant(params.seed, i, params.users));
  return tenants;
}
