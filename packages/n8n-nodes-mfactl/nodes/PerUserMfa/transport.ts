import { createFetch, NetworkError, UsageError, type HttpTransport } from '@mfactl/core';

/**
 * The HTTP transport for one execution: the credential's extra CA trusted, and certificate checks
 * off only when the node's Ignore SSL Issues says so. Token and API requests both go through it.
 */
export function openTransport(caCertificate: unknown, ignoreSsl: boolean): HttpTransport {
	const caPem = readCaPem(caCertificate);
	try {
		return createFetch({ caPem, rejectUnauthorized: !ignoreSsl });
	} catch {
		throw new UsageError('The Trusted CA Certificate could not be read: paste the CA certificate as PEM (-----BEGIN CERTIFICATE----- ...).');
	}
}

/** The credential's CA field: empty is none; anything else must hold a PEM certificate. */
export function readCaPem(value: unknown): string | undefined {
	if (typeof value !== 'string' || value.trim() === '') return undefined;
	if (!/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(value)) {
		throw new UsageError('The Trusted CA Certificate is not a PEM certificate: it must start with -----BEGIN CERTIFICATE-----.');
	}
	// n8n may keep literal "\n" sequences when a PEM is pasted on one line.
	return value.includes('\\n') && !value.includes('\n') ? value.replace(/\\n/g, '\n') : value;
}

const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL|HOSTNAME_MISMATCH/;

/** Whether a network failure is a certificate the node does not trust. */
export function isCertificateProblem(error: unknown): error is NetworkError {
	return error instanceof NetworkError && TLS_CODE.test(error.code);
}

/**
 * The message for a certificate that is not trusted: what is wrong, and the two ways out that
 * exist in n8n (core's own advice names the CLI's settings, which n8n does not have).
 */
export function certificateMessage(error: NetworkError): string {
	const origin = /\((https?:\/\/[^)\s]+)\)/.exec(error.message)?.[1];
	const detail = new RegExp(`TLS failure ${error.code}: (.*?)(?:\\. If the server uses a private CA|\\.?$)`)
		.exec(error.message)?.[1]
		// Node 24 appends advice about its own flags, which nobody configuring n8n can act on.
		?.replace(/;?\s*if the root CA is installed locally.*$/i, '');
	const what = origin ? `The TLS certificate of ${origin}` : 'The server’s TLS certificate';
	return (
		`${what} is not trusted (${error.code}${detail ? `: ${detail}` : ''}). ` +
		'Paste the CA certificate that signed it into the credential’s “Trusted CA Certificate (PEM)” field, ' +
		'or turn on “Ignore SSL Issues” in the node’s options to accept any certificate.'
	);
}

/** A signal that ends after `timeoutMs`, or with the execution's own. */
export function withTimeout(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
	const timeout = AbortSignal.timeout(timeoutMs);
	return signal ? AbortSignal.any([signal, timeout]) : timeout;
}
