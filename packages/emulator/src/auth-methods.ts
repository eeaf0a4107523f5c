/** A user's registered authentication methods as Graph's `/users/{id}/authentication/methods` lists them. */
import type { UserRecord } from "./model.js";
import { createPrng, type Prng } from "./prng.js";

/** Graph's fixed ids: every user's password method, the mobile phone slot, the email method. */
export const PASSWORD_METHOD_ID = "28c10230-6103-485e-b985-444c60001490";
export const MOBILE_PHONE_METHOD_ID = "3179e48a-750b-4051-897c-87b9720928f7";
export const EMAIL_METHOD_ID = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f";

/** The method names the emulator stores (as in userRegistrationDetails' methodsRegistered) -> Graph's type. */
export const METHOD_TYPES: Readonly<Record<string, string>> = {
  microsoftAuthenticatorPush: "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
  mobilePhone: "#microsoft.graph.phoneAuthenticationMethod",
  softwareOneTimePasscode: "#microsoft.graph.softwareOathAuthenticationMethod",
  fido2: "#microsoft.graph.fido2AuthenticationMethod",
  windowsHelloForBusiness: "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod",
  email: "#microsoft.graph.emailAuthenticationMethod",
  temporaryAccessPass: "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
};

const DEVICES = ["iPhone 15", "iPhone 13", "Pixel 8", "Galaxy S23", "Galaxy A54"];
const YUBIKEY_5_AAGUID = "cb69481e-8ff7-4039-93ec-0a2729a154a8";

/** A registration time in 2022..2024, stable for the user and method. */
function createdAt(prng: Prng): string {
  const start = Date.UTC(2022, 0, 1);
  return new Date(start + prng.int(3 * 365 * 86_400) * 1000).toISOString().replace(/\.\d+Z$/, "Z");
}

const hex = (prng: Prng, n: number) => Array.from({ length: n }, () => prng.int(16).toString(16)).join("");

/** Everything but the type and id comes from a stream per user and method, so reads repeat. */
function method(user: UserRecord, name: string): Record<string, unknown> | undefined {
  const type = METHOD_TYPES[name];
  if (type === undefined) return undefined;
  const prng = createPrng(`authentication-method/${user.id}/${name}`);
  const id = prng.guid();
  switch (name) {
    case "microsoftAuthenticatorPush":
      return { "@odata.type": type, id, displayName: prng.pick(DEVICES), deviceTag: "SoftwareTokenActivated", phoneAppVersion: "6.8.7", createdDateTime: createdAt(prng) };
    case "mobilePhone":
      // A number from the 555-01xx range kept for fiction, so no seeded number is anyone's.
      return { "@odata.type": type, id: MOBILE_PHONE_METHOD_ID, phoneNumber: `+1 425 555 01${String(prng.int(100)).padStart(2, "0")}`, phoneType: "mobile", smsSignInState: "notSupported" };
    case "softwareOneTimePasscode":
      return { "@odata.type": type, id, secretKey: null };
    case "fido2":
      return {
        "@odata.type": type,
        // FIDO2 method ids are the credential id (base64url), not GUIDs.
        id: Buffer.from(hex(prng, 32), "hex").toString("base64url"),
        displayName: "YubiKey 5 NFC",
        createdDateTime: createdAt(prng),
        aaGuid: YUBIKEY_5_AAGUID,
        model: "YubiKey 5 NFC",
        attestationCertificates: [hex(prng, 40)],
        attestationLevel: "attested",
      };
    case "windowsHelloForBusiness":
      return { "@odata.type": type, id, displayName: `DESKTOP-${hex(prng, 7).toUpperCase()}`, createdDateTime: createdAt(prng), keyStrength: "normal" };
    case "email": {
      const local = user.userPrincipalName.split("@")[0]?.split("#")[0] ?? "user";
      return { "@odata.type": type, id: EMAIL_METHOD_ID, emailAddress: `${local}@outlook.com` };
    }
    default: {
      // temporaryAccessPass: registered in the past, an hour long, so expired now.
      const created = createdAt(prng);
      return {
        "@odata.type": type,
        id,
        temporaryAccessPass: null,
        createdDateTime: created,
        startDateTime: created,
        lifetimeInMinutes: 60,
        isUsableOnce: false,
        isUsable: false,
        methodUsabilityReason: "Expired",
      };
    }
  }
}

/** The password method first (every cloud user has one), then each registered method once; unknown names are left out. */
export function authenticationMethods(user: UserRecord): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [
    { "@odata.type": "#microsoft.graph.passwordAuthenticationMethod", id: PASSWORD_METHOD_ID, password: null, createdDateTime: createdAt(createPrng(`authentication-method/${user.id}/password`)) },
  ];
  for (const name of new Set(user.methods)) {
    const m = method(user, name);
    if (m) out.push(m);
  }
  return out;
}
