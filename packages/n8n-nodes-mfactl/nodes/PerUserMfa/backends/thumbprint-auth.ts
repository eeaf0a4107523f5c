import { createPrivateKey } from 'node:crypto';
import { ConfidentialClientApplication, LogLevel } from '@azure/msal-node';
import { AuthError, FetchNetworkModule, MICROSOFT_AUTHORITY_HOSTS, NetworkError, redactCredentials, UsageError, type FetchLike, type TokenProvider } from '@mfactl/core';

/**
 * App-only Graph tokens signed with a private key named by its certificate's thumbprint, for
 * credentials that hold the key and the thumbprint the portal shows but not the certificate.
 * core's token provider takes the certificate itself (it computes the thumbprint from it); this
 * one hands MSAL the thumbprint as given, over the same network module (core's FetchNetworkModule),
 * so the node's CA and Ignore SSL Issues apply to the token requests too.
 */
export interface ThumbprintTokenOptions {
	clientId: string;
	privateKeyPem: string;
	/** Hex: SHA-1 (40 digits, the portal's "Thumbprint": sent as x5t) or SHA-256 (64 digits: x5t#S256). */
	thumbprint: string;
	authorityHost: string;
	graphUrl: string;
	fetch: FetchLike;
	requestTimeoutMs?: number | undefined;
}

export function thumbprintTokenProvider(o: ThumbprintTokenOptions): TokenProvider {
	const thumbprint = o.thumbprint.replace(/[\s:]/g, '').toLowerCase();
	if (!/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(thumbprint)) {
		throw new UsageError('The certificate thumbprint must be hexadecimal: 40 digits (SHA-1, as the Azure portal shows it) or 64 (SHA-256).');
	}
	let privateKey: string;
	try {
		const key = createPrivateKey(o.privateKeyPem);
		if (key.asymmetricKeyType !== 'rsa') throw new UsageError(`The certificate's key is ${key.asymmetricKeyType ?? 'unknown'}; Entra app certificates need an RSA key.`);
		privateKey = key.export({ format: 'pem', type: 'pkcs8' }).toString();
	} catch (error) {
		if (error instanceof UsageError) throw error;
		throw new UsageError('The private key could not be read: it must be an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----).');
	}
	const secrets = [privateKey, o.privateKeyPem];
	const authorityBase = o.authorityHost.replace(/\/+$/, '');
	const host = new URL(authorityBase).host.toLowerCase();
	const scope = `${o.graphUrl.replace(/\/+$/, '')}/.default`;
	const clientCertificate = thumbprint.length === 64 ? { thumbprintSha256: thumbprint, privateKey } : { thumbprint, privateKey };
	const apps = new Map<string, { app: ConfidentialClientApplication; network: FetchNetworkModule }>();

	const appFor = (tenant: string) => {
		let entry = apps.get(tenant);
		if (!entry) {
			const network = new FetchNetworkModule(o.fetch, o.requestTimeoutMs);
			const app = new ConfidentialClientApplication({
				auth: {
					clientId: o.clientId,
					clientCertificate,
					authority: `${authorityBase}/${tenant}`,
					...(MICROSOFT_AUTHORITY_HOSTS.has(host) ? {} : { knownAuthorities: [host] }),
				},
				system: { networkClient: network, loggerOptions: { loggerCallback: () => {}, piiLoggingEnabled: false, logLevel: LogLevel.Error } },
			});
			entry = { app, network };
			apps.set(tenant, entry);
		}
		return entry;
	};

	return {
		async getToken(tenant, options) {
			const { app, network } = appFor(tenant);
			network.observed = {};
			try {
				const result = await app.acquireTokenByClientCredential({ scopes: [scope], skipCache: options?.forceRefresh === true });
				if (!result?.accessToken) throw new AuthError(`The authority returned no access token for tenant ${tenant}.`, { tenant, code: 'no_token' });
				return result.accessToken;
			} catch (error) {
				if (error instanceof AuthError) throw error;
				const failure = network.observed.networkFailure;
				if (failure) {
					throw new NetworkError(`Could not reach the authority for tenant ${tenant} (${new URL(failure.url).origin}): ${failure.failure.detail}.`, { code: failure.failure.code, tenant });
				}
				const body = network.observed.authorityError?.body;
				const code = typeof body?.error === 'string' ? body.error : 'unknown_error';
				const codes = Array.isArray(body?.error_codes) ? body.error_codes.filter((c): c is number => typeof c === 'number') : [];
				const said = typeof body?.error_description === 'string' ? body.error_description : error instanceof Error ? error.message : String(error);
				const first = redactCredentials(said, secrets).replace(/^AADSTS\d+:\s*/, '').split(/\r?\n| Trace ID:/)[0] ?? '';
				const hint = codes.includes(700027) ? ' The thumbprint does not name a certificate registered on the app, or the key is not that certificate’s.' : '';
				throw new AuthError(
					`Could not get a token for tenant ${tenant} with app ${o.clientId}: ${code}${codes.length ? ` (${codes.map((c) => `AADSTS${c}`).join(', ')})` : ''}: ${first.trim()}${hint}`,
					{ tenant, code, aadstsCodes: codes },
				);
			}
		},
	};
}
