import { AuthError, GraphError, MfactlError, NetworkError, UsageError, type UserMfaChange } from '@mfactl/core';
import { NodeApiError, NodeOperationError, type INode, type JsonObject } from 'n8n-workflow';
import { ServerApiError } from './backends/server';
import { certificateMessage, isCertificateProblem } from './transport';

/** What the node shows of a failure: a sentence to act on, details, and the codes behind it. */
export interface Failure {
	message: string;
	description?: string | undefined;
	code: string;
	httpStatus?: number | undefined;
	requestId?: string | undefined;
	/** Bad input (nothing was sent), as opposed to a remote failure. */
	usage: boolean;
}

/** Removes the credential's secrets from text the node is about to show (defence in depth: core already redacts). */
export function redact(text: string, secrets: readonly string[]): string {
	let out = text;
	for (const secret of secrets) {
		if (secret.length < 4) continue;
		out = out.split(secret).join('[redacted]');
		// A PEM key also leaks line by line.
		for (const line of secret.split(/\r?\n/)) if (line.length >= 16 && !line.startsWith('-----')) out = out.split(line).join('[redacted]');
	}
	return out.replace(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, '[redacted key]');
}

/**
 * core's messages name the CLI's settings (MFACTL_CLIENT_SECRET, the profile, graphUrl); in n8n
 * the same advice points at the credential's fields.
 */
const N8N_WORDS: [RegExp, string][] = [
	[/(set|Check|update) MFACTL_CLIENT_SECRET or the profile's clientSecret/g, '$1 the credential’s Client Secret'],
	[/set MFACTL_CLIENT_ID or the profile's clientId/g, 'set the credential’s Client ID'],
	[/Check graphUrl\./g, 'Check the credential’s Graph URL.'],
	[/Check authorityHost and/g, 'Check the credential’s Authority Host and'],
	[/The certificate file holds no PEM certificate/g, 'The Certificate (PEM) field holds no PEM certificate'],
	[/The private key file holds no PEM private key/g, 'The Private Key (PEM) field holds no PEM private key'],
	[/check the certificate file/g, 'check the credential’s certificate'],
];

export function inN8nWords(message: string): string {
	return N8N_WORDS.reduce((text, [pattern, replacement]) => text.replace(pattern, replacement), message);
}

/** Classifies anything thrown while talking to Graph, the mfactl server or CIPP. */
export function describeFailure(error: unknown): Failure {
	const failure = classify(error);
	return { ...failure, message: inN8nWords(failure.message) };
}

function classify(error: unknown): Failure {
	if (error instanceof NodeOperationError || error instanceof NodeApiError) {
		return { message: error.message, description: error.description ?? undefined, code: 'NodeError', usage: error instanceof NodeOperationError };
	}
	if (error instanceof UsageError) return { message: error.message, code: 'BadInput', usage: true };
	if (error instanceof GraphError) {
		// core's CippError is a GraphError too: CIPP is a front for Graph; its request id is its host's.
		const source = (error as { backend?: unknown }).backend === 'cipp' ? 'CIPP' : 'Graph';
		return {
			message: error.message,
			description: error.requestId ? `${source} request id: ${error.requestId}` : undefined,
			code: error.code,
			httpStatus: error.status || undefined,
			requestId: error.requestId,
			usage: false,
		};
	}
	if (error instanceof AuthError) {
		const ids = [error.code && `Entra ID error ${error.code}`, error.correlationId && `correlation id ${error.correlationId}`].filter(Boolean).join(', ');
		return { message: error.message, description: ids || undefined, code: error.aadstsCodes[0] ? `AADSTS${error.aadstsCodes[0]}` : error.code, httpStatus: 401, usage: false };
	}
	if (isCertificateProblem(error)) return { message: certificateMessage(error), code: error.code, usage: false };
	if (error instanceof NetworkError) return { message: error.message, code: error.code, usage: false };
	if (error instanceof ServerApiError) {
		const ids = [error.details.requestId && `mfactl server request id: ${error.details.requestId}`, error.details.graphRequestId && `Graph request id: ${error.details.graphRequestId}`]
			.filter(Boolean)
			.join('; ');
		return {
			message: error.message,
			description: ids || undefined,
			code: error.details.code,
			httpStatus: error.details.status,
			requestId: error.details.graphRequestId ?? error.details.requestId,
			// The server refusing the input (400) is bad input too; nothing was changed.
			usage: error.details.status === 400,
		};
	}
	if (error instanceof MfactlError) return { message: error.message, code: error.kind, usage: false };
	return { message: error instanceof Error ? error.message : String(error), code: 'Unexpected', usage: false };
}

/** The failure of a change that Graph, the server or CIPP reported: never a success. */
export function changeFailure(change: UserMfaChange): Failure {
	const who = change.userPrincipalName || change.id;
	const reason = change.error?.message ?? (change.status === 'conflict' ? 'the state changed since it was read' : 'no reason given');
	const message = reason.includes(who) ? reason : `${who}: ${reason}`;
	const state = change.perUserMfaState ?? change.previousState;
	const details = [
		change.status === 'conflict' ? 'Conflict: nothing was sent.' : undefined,
		state ? `The state is ${state}; ${change.requestedState} was asked for.` : undefined,
		change.requestId ? `Graph request id: ${change.requestId}` : undefined,
	].filter(Boolean);
	return {
		message,
		description: details.length ? details.join(' ') : undefined,
		code: change.error?.code ?? change.status,
		httpStatus: change.error?.httpStatus,
		requestId: change.requestId,
		usage: false,
	};
}

/** The n8n error for a failure: NodeOperationError for bad input, NodeApiError for what a remote end said. */
export function toNodeError(node: INode, failure: Failure, itemIndex: number, secrets: readonly string[]): NodeOperationError | NodeApiError {
	const message = redact(failure.message, secrets);
	const description = failure.description === undefined ? undefined : redact(failure.description, secrets);
	if (failure.usage) return new NodeOperationError(node, message, { itemIndex, ...(description ? { description } : {}) });
	const response: JsonObject = { code: failure.code, message };
	if (failure.httpStatus !== undefined) response.httpStatus = failure.httpStatus;
	if (failure.requestId !== undefined) response.requestId = failure.requestId;
	const error = new NodeApiError(node, response, {
		message,
		itemIndex,
		...(description ? { description } : {}),
		...(failure.httpStatus !== undefined ? { httpCode: String(failure.httpStatus) } : {}),
	});
	// NodeApiError swaps messages that mention ECONNREFUSED and the like for generic ones, and takes an error code
	// for an HTTP status; ours already say what to do, and a network failure has no status.
	error.message = message;
	if (description) error.description = description;
	if (failure.httpStatus === undefined) error.httpCode = null;
	return error;
}
