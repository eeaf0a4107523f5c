import type { ReportRow, UserMfaChange, UserMfaState } from '@mfactl/core';
import type { IDataObject } from 'n8n-workflow';

/**
 * n8n's dialect, mapped at the edge from core's vocabulary: the field names CIPP's n8n nodes use
 * (`userId`, `tenantFilter`, `mfaState`), so workflows built on them keep their expressions.
 */
const defined = (o: Record<string, unknown>): IDataObject => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as IDataObject;

export function stateJson(s: UserMfaState): IDataObject {
	return { userId: s.id, userPrincipalName: s.userPrincipalName, tenantFilter: s.tenant, mfaState: s.perUserMfaState };
}

export function changeJson(c: UserMfaChange): IDataObject {
	return defined({
		userId: c.id,
		userPrincipalName: c.userPrincipalName,
		tenantFilter: c.tenant,
		mfaState: c.perUserMfaState,
		previousState: c.previousState,
		requestedState: c.requestedState,
		status: c.status,
		requestId: c.requestId,
		warnings: c.warnings?.length ? c.warnings.map((w) => w.message) : undefined,
	});
}

export function rowJson(r: ReportRow): IDataObject {
	return {
		userId: r.id,
		userPrincipalName: r.userPrincipalName,
		displayName: r.displayName,
		tenantFilter: r.tenant,
		mfaState: r.perUserMfaState,
		userType: r.userType,
		accountEnabled: r.accountEnabled,
		isLicensed: r.isLicensed,
	};
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What is known of a user whose call failed before Graph named them: the reference as given. */
export function givenUserJson(tenant: string, user: string): IDataObject {
	const u = user.trim();
	return { userId: GUID.test(u) ? u.toLowerCase() : '', userPrincipalName: GUID.test(u) ? '' : u, tenantFilter: tenant.trim() };
}

/** A change counts only when it is done (or nothing was needed): anything else is a failure. */
export function isChangeFailure(c: UserMfaChange): boolean {
	return c.status !== 'changed' && c.status !== 'unchanged' && c.status !== 'wouldChange';
}
