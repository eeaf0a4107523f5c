import type { Clock, MfaState, MfaStateRead, ReportRow, UserMfaChange, UserMfaState } from '@mfactl/core';

/** One user to set in a Bulk Set, already validated and in canonical form. */
export interface BulkRequest {
	tenant: string;
	user: string;
	state: MfaState;
}

export interface ListQuery {
	states?: MfaStateRead[] | undefined;
	/** Display names or UPNs starting with this (case-insensitive). */
	search?: string | undefined;
	/** Users per request to the source (the caller stops reading when it has enough). */
	pageSize: number;
}

/**
 * What the node asks of a way to reach per-user MFA (Graph, an mfactl server, CIPP), in core's
 * vocabulary; the node maps it to n8n's dialect at its edge. `get` and `list` throw for remote
 * failures; `set` and `bulkSet` report them as `failed` changes, never as a success.
 */
export interface MfaBackend {
	get(tenant: string, user: string, signal: AbortSignal | undefined): Promise<UserMfaState>;
	set(tenant: string, user: string, state: MfaState, signal: AbortSignal | undefined): Promise<UserMfaChange>;
	list(tenant: string, query: ListQuery, signal: AbortSignal | undefined): AsyncIterable<ReportRow>;
	/** One change per request, in the order given. */
	bulkSet(requests: readonly BulkRequest[], signal: AbortSignal | undefined): Promise<UserMfaChange[]>;
	close(): Promise<void>;
}

/** Node options that apply to every call the node makes. */
export interface ConnectionOptions {
	/** Accept any TLS certificate (n8n's "Ignore SSL Issues"): an explicit choice, off by default. */
	ignoreSsl: boolean;
	/** One HTTP request's timeout, in ms. */
	timeoutMs: number;
	/** Waits (retries, read-back) go through it; tests inject one. Default: real time. */
	clock?: Clock | undefined;
}

/** Finds each request's change among a bulk run's results: by tenant and object id or UPN, ignoring case. */
export function matchChanges(requests: readonly BulkRequest[], changes: Iterable<UserMfaChange>): (UserMfaChange | undefined)[] {
	const byKey = new Map<string, UserMfaChange>();
	const key = (tenant: string, user: string) => `${tenant.toLowerCase()}/${user.toLowerCase()}`;
	for (const change of changes) {
		// A later result for the same user (a second state) wins: it is the user's final state.
		if (change.id !== '') byKey.set(key(change.tenant, change.id), change);
		if (change.userPrincipalName !== '') byKey.set(key(change.tenant, change.userPrincipalName), change);
	}
	return requests.map((r) => byKey.get(key(r.tenant, r.user)));
}
