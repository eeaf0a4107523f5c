import {
	cippGetUserMfa,
	cippListUsers,
	cippSetUserMfa,
	createCippClient,
	mapConcurrent,
	ProtectedAccounts,
	UsageError,
	type ReportRow,
	type UserMfaChange,
} from '@mfactl/core';
import { openTransport } from '../transport';
import { retryFor } from './graph';
import type { BulkRequest, ConnectionOptions, ListQuery, MfaBackend } from './types';

export interface CippCredential {
	url: string;
	tenantId: string;
	clientId: string;
	clientSecret: string;
	authorityHost: string;
	caCertificate: string | undefined;
}

const str = (value: unknown): string => (typeof value === 'string' ? value.trim() : '');

export function readCippCredential(data: Record<string, unknown>): CippCredential {
	return {
		url: str(data.url),
		tenantId: str(data.tenantId),
		clientId: str(data.clientId),
		clientSecret: typeof data.clientSecret === 'string' ? data.clientSecret : '',
		authorityHost: str(data.authorityHost) || 'https://login.microsoftonline.com',
		caCertificate: str(data.caCertificate) || undefined,
	};
}

export function openCippClient(c: CippCredential, options: ConnectionOptions) {
	if (c.clientSecret === '') throw new UsageError('The CIPP credential has no client secret.');
	const http = openTransport(c.caCertificate, options.ignoreSsl);
	try {
		const client = createCippClient({
			url: c.url,
			tenantId: c.tenantId,
			clientId: c.clientId,
			clientSecret: c.clientSecret,
			authorityHost: c.authorityHost,
			fetch: http.fetch,
			retry: retryFor(options),
			...(options.clock ? { clock: options.clock } : {}),
		});
		return { client, close: () => http.close() };
	} catch (error) {
		void http.close();
		throw error;
	}
}

/** Users in flight at once in a Bulk Set through CIPP, which has no bulk endpoint: each user is set and read back on its own. */
const CIPP_CONCURRENCY = 4;

/** Per-user MFA through a CIPP instance: core sends both userPrincipalName and userId, and reads every change back. */
export function cippBackend(c: CippCredential, options: ConnectionOptions): MfaBackend {
	const { client, close } = openCippClient(c, options);
	const setOne = async (r: BulkRequest, signal: AbortSignal | undefined): Promise<UserMfaChange> => {
		try {
			return await cippSetUserMfa(client, { tenant: r.tenant, user: r.user, state: r.state }, { signal, protectedAccounts: new ProtectedAccounts() });
		} catch (error) {
			// A protected account is refused before anything is sent: in a bulk run, that user's failure only.
			if (!(error instanceof UsageError)) throw error;
			return { tenant: r.tenant, id: '', userPrincipalName: r.user, requestedState: r.state, status: 'failed', error: { code: 'ProtectedAccount', message: error.message } };
		}
	};
	return {
		get: (tenant, user, signal) => cippGetUserMfa(client, { tenant, user }, { signal }),
		set: (tenant, user, state, signal) => cippSetUserMfa(client, { tenant, user, state }, { signal, protectedAccounts: new ProtectedAccounts() }),
		async *list(tenant: string, query: ListQuery, signal: AbortSignal | undefined): AsyncGenerator<ReportRow> {
			const search = query.search?.toLowerCase();
			for await (const row of cippListUsers(client, tenant, { signal, ...(query.states?.length ? { states: query.states } : {}) })) {
				// CIPP has no search: the same "starts with" as Graph's, applied here.
				if (search && !row.displayName.toLowerCase().startsWith(search) && !row.userPrincipalName.toLowerCase().startsWith(search)) continue;
				yield row;
			}
		},
		async bulkSet(requests, signal) {
			const out = new Array<UserMfaChange>(requests.length);
			const indexed = requests.map((r, i) => ({ r, i }));
			for await (const { i, change } of mapConcurrent(indexed, CIPP_CONCURRENCY, async ({ r, i }) => ({ i, change: await setOne(r, signal) }))) out[i] = change;
			return out;
		},
		close,
	};
}
