/** A throwaway CA, the HTTPS server certificate it signs, and the main app's client certificate. */
import { createHash, generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import forge from "node-forge";

export interface KeyAndCert {
  /** PKCS#8 PEM ("BEGIN PRIVATE KEY"), the form MSAL expects. */
  keyPem: string;
  certPem: string;
}

export interface TlsMaterial {
  ca: KeyAndCert;
  server: KeyAndCert;
  /** Self-signed like a typical app registration certificate. */
  client: KeyAndCert;
}

/** Thumbprints as registered on an app (hex, upper case) and as sent in x5t / x5t#S256 (base64url). */
export interface CertificateInfo {
  certPem: string;
  sha1Hex: string;
  sha256Hex: string;
  x5t: string;
  x5tS256: string;
  publicKeyPem: string;
}

// node:crypto generates RSA keys far faster than forge's pure-JS generator.
function rsaKeyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

function serialNumber(): string {
  // Positive: clear the top bit.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString("hex");
}

function newCert(publicPem: string, subject: forge.pki.CertificateField[], issuer: forge.pki.CertificateField[], days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  cert.serialNumber = serialNumber();
  const now = Date.now();
  // Back-date a little so clock skew between processes never makes it "not yet valid".
  cert.validity.notBefore = new Date(now - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now + days * 24 * 60 * 60 * 1000);
  cert.setSubject(subject);
  cert.setIssuer(issuer);
  return cert;
}

const sha256 = () => forge.md.sha256.create();

export function generateTlsMaterial(): TlsMaterial {
  const caKeys = rsaKeyPair();
  const caName = [
    { name: "commonName", value: "mfactl emulator local CA" },
    { name: "organizationName", value: "mfactl emulator" },
  ];
  const caCert = newCert(caKeys.publicPem, caName, caName, 30);
  caCert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  const caPrivate = forge.pki.privateKeyFromPem(caKeys.privatePem);
  caCert.sign(caPrivate, sha256());

  const serverKeys = rsaKeyPair();
  const serverCert = newCert(serverKeys.publicPem, [{ name: "commonName", value: "localhost" }], caName, 30);
  serverCert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: [
        { type: 2, value: "localhost" },
        { type: 7, ip: "127.0.0.1" },
        { type: 7, ip: "::1" },
      ],
    },
    { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  serverCert.sign(caPrivate, sha256());

  const clientKeys = rsaKeyPair();
  const clientName = [{ name: "commonName", value: "mfactl emulator app certificate" }];
  const clientCert = newCert(clientKeys.publicPem, clientName, clientName, 365);
  clientCert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, critical: true },
    { name: "extKeyUsage", clientAuth: true },
  ]);
  clientCert.sign(forge.pki.privateKeyFromPem(clientKeys.privatePem), sha256());

  return {
    ca: { keyPem: caKeys.privatePem, certPem: forge.pki.certificateToPem(caCert) },
    server: { keyPem: serverKeys.privatePem, certPem: forge.pki.certificateToPem(serverCert) },
    client: { keyPem: clientKeys.privatePem, certPem: forge.pki.certificateToPem(clientCert) },
  };
}

/** Parses a PEM certificate (the first one in the text) into what app registration keeps. */
export function describeCertificate(pem: string): CertificateInfo {
  const match = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
  if (!match) throw new Error("no PEM certificate found");
  const x509 = new X509Certificate(match[0]);
  const der = x509.raw;
  const sha1 = createHash("sha1").update(der).digest();
  const s256 = createHash("sha256").update(der).digest();
  return {
    certPem: match[0],
    sha1Hex: sha1.toString("hex").toUpperCase(),
    sha256Hex: s256.toString("hex").toUpperCase(),
    x5t: sha1.toString("base64url"),
    x5tS256: s256.toString("base64url"),
    publicKeyPem: x509.publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}
