/**
 * Test support only (not exported from the package): X.509 certificates made at test time.
 * node:crypto cannot issue certificates, so node-forge signs them; keys come from node:crypto.
 */
import { generateKeyPairSync } from "node:crypto";
import forge from "node-forge";

export interface TestCertificate {
  certPem: string;
  keyPem: string;
}

function keyPair(): { forgePrivate: forge.pki.rsa.PrivateKey; forgePublic: forge.pki.rsa.PublicKey; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyPem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const publicPem = publicKey.export({ format: "pem", type: "spki" }).toString();
  return {
    forgePrivate: forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey,
    forgePublic: forge.pki.publicKeyFromPem(publicPem) as forge.pki.rsa.PublicKey,
    keyPem,
  };
}

function serial(): string {
  return `01${forge.util.bytesToHex(forge.random.getBytesSync(8))}`;
}

function validity(cert: forge.pki.Certificate): void {
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
}

/** A self-signed certificate, as an app registration's certificate credential. */
export function selfSignedCertificate(commonName = "mfactl test app"): TestCertificate {
  const keys = keyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.forgePublic;
  cert.serialNumber = serial();
  validity(cert);
  const attrs = [{ name: "commonName", value: commonName }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.sign(keys.forgePrivate, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

/** A private CA and a server certificate it issued for localhost / 127.0.0.1. */
export function caAndServerCertificate(): { ca: TestCertificate; server: TestCertificate } {
  const caKeys = keyPair();
  const ca = forge.pki.createCertificate();
  ca.publicKey = caKeys.forgePublic;
  ca.serialNumber = serial();
  validity(ca);
  const caAttrs = [{ name: "commonName", value: "mfactl test CA" }];
  ca.setSubject(caAttrs);
  ca.setIssuer(caAttrs);
  ca.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  ca.sign(caKeys.forgePrivate, forge.md.sha256.create());

  const serverKeys = keyPair();
  const server = forge.pki.createCertificate();
  server.publicKey = serverKeys.forgePublic;
  server.serialNumber = serial();
  validity(server);
  server.setSubject([{ name: "commonName", value: "localhost" }]);
  server.setIssuer(caAttrs);
  server.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: "127.0.0.1" }] },
  ]);
  server.sign(caKeys.forgePrivate, forge.md.sha256.create());
  return {
    ca: { certPem: forge.pki.certificateToPem(ca), keyPem: caKeys.keyPem },
    server: { certPem: forge.pki.certificateToPem(server), keyPem: serverKeys.keyPem },
  };
}
