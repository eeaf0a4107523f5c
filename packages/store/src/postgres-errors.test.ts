import { describe, expect, it } from "vitest";
import { describePostgresFailure, postgresTarget } from "./postgres-errors.js";

const PASSWORD = "Zq9 s%cr:@/t";
const url = `postgres://ops:${encodeURIComponent(PASSWORD)}@db.example.internal:6432/mfactl?sslmode=require`;
const target = postgresTarget(url, { readonly: false, connectTimeoutMs: 2500 });
const withCode = (message: string, code: string, extra: object = {}) => Object.assign(new Error(message), { code, ...extra });

describe("postgresTarget", () => {
  it("names user, host, port and database, never the password", () => {
    expect(target).toMatchObject({ host: "db.example.internal", port: 6432, database: "mfactl", user: "ops", location: "postgres://ops@db.example.internal:6432/mfactl" });
    expect(JSON.stringify(target)).not.toContain("Zq9");
  });

  it("reads a socket directory given as a parameter, the default port, and a schema", () => {
    const t = postgresTarget("postgresql:///journal?host=/var/run/postgresql&user=svc", { schema: "mfactl", readonly: true, connectTimeoutMs: 1000 });
    expect(t).toMatchObject({ host: "/var/run/postgresql", port: 5432, database: "journal", user: "svc", location: "postgres://svc@%2Fvar%2Frun%2Fpostgresql:5432/journal (schema mfactl)" });
  });
});

describe("describePostgresFailure", () => {
  const cases: [string, unknown, string][] = [
    ["a refused connection", withCode("connect ECONNREFUSED 10.0.0.1:6432", "ECONNREFUSED"), "Cannot connect to the PostgreSQL database mfactl on db.example.internal:6432: the connection was refused."],
    ["happy eyeballs", Object.assign(new AggregateError([withCode("x", "ECONNREFUSED"), withCode("y", "ECONNREFUSED")]), {}), "the connection was refused"],
    ["an unknown host", withCode("getaddrinfo ENOTFOUND db.example.internal", "ENOTFOUND"), "the host name db.example.internal does not resolve"],
    ["a timeout", new Error("timeout exceeded when trying to connect"), "no answer within 2.5 s"],
    ["a wrong password", withCode('password authentication failed for user "ops"', "28P01", { severity: "FATAL" }), "refused the password of user ops for the database mfactl"],
    ["no password", new Error("SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string"), "asks for a password for user ops, and the URL has none"],
    ["an unknown database", withCode('database "mfactl" does not exist', "3D000", { severity: "FATAL" }), "There is no database mfactl on the PostgreSQL server at db.example.internal:6432"],
    ["a lost connection", new Error("Connection terminated unexpectedly"), "The connection to the PostgreSQL database mfactl on db.example.internal:6432 was lost"],
    ["a shutdown", withCode("terminating connection due to administrator command", "57P01", { severity: "FATAL" }), "closed the connection"],
    ["any other server error", withCode("out of shared memory", "53200", { severity: "ERROR" }), "failed (53200: out of shared memory)"],
  ];
  for (const [name, error, expected] of cases) {
    it(name, () => {
      const message = describePostgresFailure(error, target);
      expect(message).toContain(expected);
      expect(message).not.toContain("Zq9");
      expect(message).not.toMatch(/\n/);
    });
  }

  it("is undefined for what is not a database failure", () => {
    expect(describePostgresFailure(new TypeError("x is not a function"), target)).toBeUndefined();
    expect(describePostgresFailure(new Error("Run r1 is already in the journal"), target)).toBeUndefined();
  });
});
