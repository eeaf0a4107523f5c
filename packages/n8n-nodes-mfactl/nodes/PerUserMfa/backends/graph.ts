import {
	bulkSetMfa,
	createBatchEngine,
	createGraphClient,
	getUserMfa,
	ProtectedAccounts,
	setUserMfa,
	SYNC_ACCOUNT_UPN,
	usersPage,
	type BatchEngine,
	type Credential,
	type MfaState,
	type ReportRow,
	type UserMfaChange,
} from '@mfactl/core';
import { openTransport } from '../transport';
import { thumbprintTokenProvider } from './thumbprint-auth';
import { matchChanges, type BulkRequest, type ConnectionOptions, type ListQuery, type MfaBackend } from './types';

/** The Microsoft Graph App credential's fields, as n8n decrypts them. */
export interface GraphAppCredential {
	tenantId: string;
	clientId: string;
	credential: Credential;
	authorityHost: string;
	graphUrl: string;
	caCertificate: string | undefined;
	/** A certificate given by its thumbprint (with its key) instead of the certificate itself. */
	thumbprint: string | undefined;
}

const str = (value: unknown): string => (typeof value === 'string' ? value.trim() : '');

/** Reads the credential's fields; the secret and key are passed on as given, never logged. */
export function readGraphCredential(data: Record<string, unknown>): GraphAppCredential {
	const certificate = str(data.authentication) === 'certificate';
	const credential: Credential = certificate
		? { kind: 'certificate', privateKeyPem: unescapePem(data.privateKey), certificatePem: unescapePem(data.certificate) }
		: { kind: 'secret', clientSecret: typeof data.clientSecret === 'string' ? data.clientSecret : '' };
	return {
		tenantId: str(data.tenantId),
		clientId: str(data.clientId),
		credential,
		authorityHost: str(data.authorityHost) || 'https://login.microsoftonline.com',
		graphUrl: str(data.graphUrl) || 'https://graph.microsoft.com',
		caCertificate: str(data.caCertificate) || undefined,
		thumbprint: certificate && str(data.certificate) === '' && str(data.thumbprint) !== '' ? str(data.thumbprint) : undefined,
	};
}

/** A PEM pasted on one line keeps literal "\n" sequences in n8n; PEM parsers need real line breaks. */
function unescapePem(value: unknown): string {
	const text = typeof value === 'string' ? value.trim() : '';
	return text.includes('\\n') && !text.includes('\n') ? text.replace(/\\n/g, '\n') : text;
}

/** The secrets of a credential, to keep out of anything the node shows. */
export function graphSecrets(c: GraphAppCredential): string[] {
	return c.credential.kind === 'secret' ? [c.credential.clientSecret] : [c.credential.privateKeyPem];
}

/** Retries within what a workflow can wait for: Graph's Retry-After is honoured, up to five minutes in all. */
export function retryFor(options: ConnectionOptions) {
	return { attemptTimeoutMs: options.timeoutMs, maxAttempts: 5, maxDelayMs: 60_000, deadlineMs: 300_000 };
}

export function openGraphClient(c: GraphAppCredential, options: ConnectionOptions) {
	const http = openTransport(c.caCertificate, options.ignoreSsl);
	try {
		const client = createGraphClient({
			clientId: c.clientId,
			credential: c.credential,
			authorityHost: c.authorityHost,
			graphUrl: c.graphUrl,
			fetch: http.fetch,
			retry: retryFor(options),
			...(c.thumbprint !== undefined && c.credential.kind === 'certificate'
				? {
						tokenProvider: thumbprintTokenProvider({
							clientId: c.clientId,
							privateKeyPem: c.credential.privateKeyPem,
							thumbprint: c.thumbprint,
							authorityHost: c.authorityHost,
							graphUrl: c.graphUrl,
							fetch: http.fetch,
							requestTimeoutMs: options.timeoutMs,
						}),
					}
				: {}),
		});
		return {
			client,
			async close() {
				await client.close();
				await http.close();
			},
		};
	} catch (error) {
		void http.close();
		throw error;
	}
}

/** Per-user MFA straight through Microsoft Graph, with core's read, change and read-back. */
export function graphBackend(c: GraphAppCredential, options: ConnectionOptions): MfaBackend {
	const { client, close } = openGraphClient(c, options);
	let engine: BatchEngine | undefined;
	const batchEngine = () => (engine ??= createBatchEngine(client));
	// No profile inside n8n: the guard rail left is the directory synchronisation account (by role for Set, by name in bulk).
	const protectedAccounts = () => {
		const accounts = new ProtectedAccounts();
		accounts.addPattern(SYNC_ACCOUNT_UPN, 'directory synchronisation account');
		return accounts;
	};

	return {
		get: (tenant, user, signal) => getUserMfa(client, { tenant, user }, signal ? { signal } : {}),
		set: (tenant, user, state, signal) => setUserMfa(client, { tenant, user, state }, { signal, protectedAccounts: new ProtectedAccounts() }),
		async *list(tenant: string, query: ListQuery, signal: AbortSignal | undefined): AsyncGenerator<ReportRow> {
			let cursor: string | undefined;
			do {
				const page = await usersPage(
					batchEngine(),
					{
						tenant,
						limit: Math.min(999, Math.max(1, query.pageSize)),
						...(query.states?.length ? { states: query.states } : {}),
						...(query.search ? { search: query.search } : {}),
						...(cursor ? { cursor } : {}),
					},
					signal,
				);
				yield* page.users;
				cursor = page.nextCursor;
			} while (cursor);
		},
		async bulkSet(requests: readonly BulkRequest[], signal: AbortSignal | undefined): Promise<UserMfaChange[]> {
			const results: UserMfaChange[] = [];
			// Core's bulk set takes one state: one run per state asked for.
			for (const state of new Set(requests.map((r) => r.state))) {
				const group = requests.filter((r) => r.state === state);
				for await (const item of bulkSetMfa(
					batchEngine(),
					{ tenants: [], state, users: group.map((r) => ({ user: r.user, tenant: r.tenant })) },
					{ signal, protectedAccounts: protectedAccounts() },
				)) {
					if (item.kind === 'result' || item.kind === 'applied') results.push(item.change);
					else if (item.kind === 'protected') results.push(protectedChange(item.target.tenant, item.target.user, item.target.previousState, state, item.reason));
				}
			}
			return matchChanges(requests, results).map((change, i) => change ?? missing(requests[i]!));
		},
		async close() {
			await engine?.close();
			await close();
		},
	};
}

function protectedChange(
	tenant: string,
	user: { id: string; userPrincipalName: string },
	previousState: UserMfaChange['previousState'],
	requestedState: MfaState,
	reason: string,
): UserMfaChange {
	return {
		tenant,
		id: user.id,
		userPrincipalName: user.userPrincipalName,
		...(previousState ? { previousState, perUserMfaState: previousState } : {}),
		requestedState,
		status: 'failed',
		error: {
			code: 'ProtectedAccount',
			message: `${user.userPrincipalName} is a protected account (${reason}): left alone, nothing was sent. Change it outside n8n if it is really meant.`,
		},
	};
}

/** A request the bulk run gave no answer for: reported as a failure, never as done. */
export function missing(r: BulkRequest): UserMfaChange {
	return {
		tenant: r.tenant,
		id: '',
		userPrincipalName: r.user,
		requestedState: r.state,
		status: 'failed',
		error: { code: 'NoResult', message: `No result came back for ${r.user} in ${r.tenant}: its state is not known to have changed.` },
	};
}
