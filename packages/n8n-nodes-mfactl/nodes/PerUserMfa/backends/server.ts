import { mapConcurrent, NetworkError, describeNetworkFailure, satisfies, UsageError, type FetchLike, type MfaState, type ReportRow, type UserMfaChange, type UserMfaState } from '@mfactl/core';
import { openTransport, withTimeout } from '../transport';
import { matchChanges, type BulkRequest, type ConnectionOptions, type ListQuery, type MfaBackend } from './types';
import { missing } from './graph';

export interface ServerCredential {
	url: string;
	apiKey: string;
	caCertificate: string | undefined;
}

export function readServerCredential(data: Record<string, unknown>): ServerCredential {
	const url = typeof data.url === 'string' ? data.url.trim().replace(/\/+$/, '') : '';
	return {
		url,
		apiKey: typeof data.apiKey === 'string' ? data.apiKey.trim() : '',
		caCertificate: typeof data.caCertificate === 'string' && data.caCertificate.trim() !== '' ? data.caCertificate : undefined,
	};
}

/** The server's error answer, `{ error: { code, message, requestId?, httpStatus? }, requestId }`: what it said, and its request ids. */
export class ServerApiError extends Error {
	override readonly name = 'ServerApiError';
	constructor(
		message: string,
		readonly details: { status: number; code: string; requestId?: string | undefined; graphRequestId?: string | undefined },
	) {
		super(message);
	}
}

interface ErrorBody {
	error?: { code?: unknown; message?: unknown; requestId?: unknown; httpStatus?: unknown };
	requestId?: unknown;
}

interface Job {
	jobId: string;
	status: string;
	runId?: string;
	error?: { code?: string; message?: string; httpStatus?: number };
}

interface PlanFile {
	items: { tenant: string; id: string; userPrincipalName: string }[];
	leftOut: { tenant: string; id: string; userPrincipalName: string; perUserMfaState?: UserMfaChange['perUserMfaState']; reason: string; detail?: string }[];
	failures: { tenant: string; userPrincipalName?: string; error: { code: string; message: string; httpStatus?: number } }[];
}

const seg = (value: string) => encodeURIComponent(value);

/** A Job's wait is bounded too, but by much more than one request: a bulk run of thousands takes minutes. */
const JOB_WAIT_MS = 30 * 60_000;

/** Per-user MFA through an mfactl server's REST API (docs/api.md): the server reads, changes, reads back and journals. */
export function serverBackend(c: ServerCredential, options: ConnectionOptions): MfaBackend {
	const base = checkedUrl(c.url);
	if (c.apiKey === '') throw new UsageError('The mfactl server credential has no API key: make one with `mfactl apikey create`.');
	const http = openTransport(c.caCertificate, options.ignoreSsl);
	const call = (method: string, path: string, body: unknown, signal: AbortSignal | undefined, timeoutMs = options.timeoutMs) =>
		request(http.fetch, base, c.apiKey, method, path, body, withTimeout(signal, timeoutMs));

	const json = async <T>(method: string, path: string, body: unknown, signal: AbortSignal | undefined): Promise<T> => {
		const res = await call(method, path, body, signal);
		const parsed = await readJson(res);
		if (!res.ok) throw serverError(res, parsed);
		return parsed as T;
	};

	const waitForJob = async (jobId: string, signal: AbortSignal | undefined): Promise<Job> => {
		// The events stream ends with `done`: waiting on it needs no polling, nor a sleep.
		const res = await call('GET', `/v1/jobs/${seg(jobId)}/events`, undefined, signal, JOB_WAIT_MS);
		if (!res.ok || !res.body) throw serverError(res, await readJson(res));
		const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
		let buffer = '';
		try {
			for (;;) {
				const { value, done } = await reader.read();
				if (done) break;
				buffer += value;
				let end: number;
				while ((end = buffer.indexOf('\n\n')) >= 0) {
					const block = buffer.slice(0, end);
					buffer = buffer.slice(end + 2);
					const lines = block.split('\n');
					if (!lines.includes('event: done')) continue;
					const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
					return JSON.parse(data) as Job;
				}
			}
		} finally {
			await reader.cancel().catch(() => undefined);
		}
		// The stream ended without `done`: ask for the job itself.
		return json<Job>('GET', `/v1/jobs/${seg(jobId)}`, undefined, signal);
	};

	const finished = (job: Job): Job => {
		if (job.status === 'succeeded') return job;
		const code = job.error?.code ?? job.status;
		throw new ServerApiError(`mfactl server job ${job.jobId} ${job.status}: ${job.error?.message ?? 'no reason given'}`, {
			status: job.error?.httpStatus ?? 500,
			code,
		});
	};

	const runChanges = async (runId: string, signal: AbortSignal | undefined): Promise<UserMfaChange[]> => {
		const changes: UserMfaChange[] = [];
		let cursor: number | undefined;
		do {
			const page = await json<{ changes: UserMfaChange[]; nextCursor?: number }>(
				'GET',
				`/v1/runs/${seg(runId)}/changes?limit=5000${cursor !== undefined ? `&cursor=${cursor}` : ''}`,
				undefined,
				signal,
			);
			changes.push(...page.changes);
			cursor = page.nextCursor;
		} while (cursor !== undefined);
		return changes;
	};

	const bulkOneState = async (state: MfaState, group: readonly BulkRequest[], signal: AbortSignal | undefined): Promise<(UserMfaChange | undefined)[]> => {
		// Plan, then apply the plan: the plan names every user it could not read or left alone, which a bulk-set job's result does not.
		const planJob = await json<Job>('POST', '/v1/jobs/plan', { state, users: group.map((r) => ({ user: r.user, tenant: r.tenant })), leaveOutProtected: true }, signal);
		finished(await waitForJob(planJob.jobId, signal));
		const plan = await json<PlanFile>('GET', `/v1/jobs/${seg(planJob.jobId)}/result`, undefined, signal);
		const results: UserMfaChange[] = [];
		for (const f of plan.failures) {
			if (f.userPrincipalName !== undefined) results.push({ tenant: f.tenant, id: '', userPrincipalName: f.userPrincipalName, requestedState: state, status: 'failed', error: f.error });
		}
		for (const l of plan.leftOut) {
			results.push({
				tenant: l.tenant,
				id: l.id,
				userPrincipalName: l.userPrincipalName,
				...(l.perUserMfaState ? { previousState: l.perUserMfaState, perUserMfaState: l.perUserMfaState } : {}),
				requestedState: state,
				status: 'failed',
				error: { code: 'ProtectedAccount', message: `${l.userPrincipalName} was left alone by the server: ${l.reason}${l.detail ? ` (${l.detail})` : ''}. Nothing was sent.` },
			});
		}
		if (plan.items.length > 0) {
			const applyJob = await json<Job>('POST', '/v1/jobs/apply', { planJobId: planJob.jobId }, signal);
			const done = finished(await waitForJob(applyJob.jobId, signal));
			const runId = done.runId ?? applyJob.runId;
			if (runId === undefined) throw new ServerApiError(`mfactl server job ${applyJob.jobId} finished without a run.`, { status: 500, code: 'NoRun' });
			results.push(...(await runChanges(runId, signal)));
		}
		const matched = matchChanges(group, results);
		// The users the plan found already in the state are in none of its lists: read them, to say their state.
		const unchanged = group.map((r, i) => ({ r, i })).filter(({ i }) => matched[i] === undefined);
		for await (const { i, change } of mapConcurrent(unchanged, 4, async ({ r, i }) => ({ i, change: await unchangedChange(r, signal) }))) {
			matched[i] = change;
		}
		return matched;
	};

	const unchangedChange = async (r: BulkRequest, signal: AbortSignal | undefined): Promise<UserMfaChange> => {
		const now = await json<UserMfaState>('GET', `/v1/tenants/${seg(r.tenant)}/users/${seg(r.user)}/mfa`, undefined, signal).catch((error: unknown) => error);
		if (now instanceof Error || typeof now !== 'object' || now === null) {
			const reason = now instanceof Error ? now.message : 'no answer';
			return { ...missing(r), error: { code: 'NoResult', message: `The server's plan did not name ${r.user}, and its state could not be read again: ${reason}` } };
		}
		const state = now as UserMfaState;
		// Unchanged only when the state read now satisfies the request: a user the plan did not name is never taken for done.
		if (satisfies(state.perUserMfaState, r.state)) return { ...state, previousState: state.perUserMfaState, requestedState: r.state, status: 'unchanged' };
		return {
			...state,
			previousState: state.perUserMfaState,
			requestedState: r.state,
			status: 'failed',
			error: { code: 'NoResult', message: `The server's plan did not name ${r.user}, and its state is ${state.perUserMfaState}, not ${r.state}.` },
		};
	};

	/** Every name of each tenant the key may act on (GET /v1/tenants), to send and match the server's own name for it. */
	const servedTenants = async (signal: AbortSignal | undefined): Promise<Map<string, string>> => {
		const { tenants } = await json<{ tenants: { tenant: string; names: string[] }[] }>('GET', '/v1/tenants', undefined, signal);
		const names = new Map<string, string>();
		for (const t of tenants) for (const n of [t.tenant, ...t.names]) names.set(n.toLowerCase(), t.tenant);
		return names;
	};

	return {
		get: (tenant, user, signal) => json<UserMfaState>('GET', `/v1/tenants/${seg(tenant)}/users/${seg(user)}/mfa`, undefined, signal),
		async set(tenant, user, state, signal) {
			const res = await call('PUT', `/v1/tenants/${seg(tenant)}/users/${seg(user)}/mfa`, { perUserMfaState: state }, signal);
			const body = await readJson(res);
			// A change that failed comes back as the change itself (status failed or conflict), with its reason.
			if (isChange(body)) return body;
			if (!res.ok) throw serverError(res, body);
			throw new ServerApiError(`mfactl server answered ${res.status} without a change to PUT ${new URL(res.url).pathname}.`, { status: res.status, code: 'UnexpectedResponse' });
		},
		async *list(tenant: string, query: ListQuery, signal: AbortSignal | undefined): AsyncGenerator<ReportRow> {
			let cursor: string | undefined;
			do {
				const q = new URLSearchParams({ limit: String(Math.min(999, Math.max(1, query.pageSize))) });
				for (const s of query.states ?? []) q.append('state', s);
				if (query.search) q.set('search', query.search);
				if (cursor) q.set('cursor', cursor);
				const page = await json<{ users: ReportRow[]; nextCursor?: string }>('GET', `/v1/tenants/${seg(tenant)}/users?${q.toString()}`, undefined, signal);
				yield* page.users;
				cursor = page.nextCursor;
			} while (cursor);
		},
		async bulkSet(requests, signal) {
			const names = await servedTenants(signal);
			const out = new Array<UserMfaChange | undefined>(requests.length);
			const served: { i: number; r: BulkRequest }[] = [];
			requests.forEach((r, i) => {
				const tenant = names.get(r.tenant.toLowerCase());
				if (tenant === undefined) {
					out[i] = {
						...missing(r),
						error: { code: 'TenantNotFound', message: `The mfactl server does not serve tenant ${r.tenant}, or this API key may not act on it: nothing was sent.` },
					};
				} else served.push({ i, r: { ...r, tenant } });
			});
			for (const state of new Set(served.map(({ r }) => r.state))) {
				const group = served.filter(({ r }) => r.state === state);
				const changes = await bulkOneState(state, group.map(({ r }) => r), signal);
				group.forEach(({ i }, k) => (out[i] = changes[k]));
			}
			return out.map((change, i) => change ?? missing(requests[i]!));
		},
		close: () => http.close(),
	};
}

/** `GET /v1/me`: who the server takes the key for. */
export async function serverWhoAmI(c: ServerCredential, options: ConnectionOptions): Promise<{ actor: string; scopes: string[] }> {
	const base = checkedUrl(c.url);
	const http = openTransport(c.caCertificate, options.ignoreSsl);
	try {
		const res = await request(http.fetch, base, c.apiKey, 'GET', '/v1/me', undefined, withTimeout(undefined, options.timeoutMs));
		const body = await readJson(res);
		if (!res.ok) throw serverError(res, body);
		const me = body as { actor?: unknown; scopes?: unknown };
		return { actor: String(me.actor), scopes: Array.isArray(me.scopes) ? me.scopes.map(String) : [] };
	} finally {
		await http.close();
	}
}

function checkedUrl(value: string): string {
	let url: URL;
	try {
		url = new URL(value);
	} catch {
		throw new UsageError(`The mfactl server URL ${JSON.stringify(value)} is not a URL; expected for example https://mfactl.example.net:8443.`);
	}
	if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`The mfactl server URL must be https:// (or http:// on a trusted network), not ${url.protocol}//.`);
	return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

async function request(fetch: FetchLike, base: string, apiKey: string, method: string, path: string, body: unknown, signal: AbortSignal): Promise<Response> {
	const headers: Record<string, string> = { authorization: `Bearer ${apiKey}`, accept: path.endsWith('/events') ? 'text/event-stream' : 'application/json' };
	if (body !== undefined) headers['content-type'] = 'application/json';
	try {
		return await fetch(`${base}${path}`, { method, headers, signal, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
	} catch (error) {
		const failure = describeNetworkFailure(error);
		if (!failure) throw error;
		throw new NetworkError(`Could not reach the mfactl server at ${new URL(base).origin}: ${failure.detail}.`, { code: failure.code });
	}
}

async function readJson(res: Response): Promise<unknown> {
	const text = await res.text();
	if (text.trim() === '') return undefined;
	try {
		return JSON.parse(text) as unknown;
	} catch {
		return undefined;
	}
}

function isChange(body: unknown): body is UserMfaChange {
	if (typeof body !== 'object' || body === null) return false;
	const b = body as Record<string, unknown>;
	return typeof b.status === 'string' && typeof b.tenant === 'string' && typeof b.requestedState === 'string';
}

function serverError(res: Response, body: unknown): ServerApiError {
	const b = (typeof body === 'object' && body !== null ? body : {}) as ErrorBody;
	const code = typeof b.error?.code === 'string' ? b.error.code : `HTTP_${res.status}`;
	const message = typeof b.error?.message === 'string' ? b.error.message : `HTTP ${res.status} ${res.statusText}`.trim();
	return new ServerApiError(`mfactl server answered ${res.status} ${code}: ${message}`, {
		status: res.status,
		code,
		requestId: typeof b.requestId === 'string' ? b.requestId : (res.headers.get('x-request-id') ?? undefined),
		graphRequestId: typeof b.error?.requestId === 'string' ? b.error.requestId : undefined,
	});
}
