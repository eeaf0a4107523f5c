import type { ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * An Entra app registration with application permissions on Microsoft Graph. Tested by the
 * Per-User MFA node (`mfactlMicrosoftGraphAppTest`): signing in needs code, not one HTTP request.
 */
export class MfactlMicrosoftGraphApp implements ICredentialType {
	name = 'mfactlMicrosoftGraphApp';

	displayName = 'mfactl Microsoft Graph App';

	icon = { light: 'file:../icons/mfactl.svg', dark: 'file:../icons/mfactl.dark.svg' } as const;

	documentationUrl = 'https://learn.microsoft.com/en-us/graph/auth-v2-service';

	properties: INodeProperties[] = [
		{
			displayName: 'Tenant ID',
			name: 'tenantId',
			type: 'string',
			default: '',
			required: true,
			placeholder: 'contoso.onmicrosoft.com',
			description:
				'The app registration’s home tenant (ID or domain). The credential test signs in here; each node call signs in to the tenant the node names.',
		},
		{
			displayName: 'Client ID',
			name: 'clientId',
			type: 'string',
			default: '',
			required: true,
			description: 'Application (client) ID of the app registration',
		},
		{
			displayName: 'Authentication',
			name: 'authentication',
			type: 'options',
			options: [
				{ name: 'Client Secret', value: 'clientSecret' },
				{ name: 'Certificate', value: 'certificate' },
			],
			default: 'clientSecret',
		},
		{
			displayName: 'Client Secret',
			name: 'clientSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			displayOptions: { show: { authentication: ['clientSecret'] } },
		},
		{
			displayName: 'Private Key (PEM)',
			name: 'privateKey',
			type: 'string',
			typeOptions: { password: true, rows: 4 },
			default: '',
			required: true,
			placeholder: '-----BEGIN PRIVATE KEY-----',
			description: 'The unencrypted RSA private key of the certificate registered on the app',
			displayOptions: { show: { authentication: ['certificate'] } },
		},
		{
			displayName: 'Certificate (PEM)',
			name: 'certificate',
			type: 'string',
			typeOptions: { password: true, rows: 4 },
			default: '',
			placeholder: '-----BEGIN CERTIFICATE-----',
			description:
				'The certificate registered on the app (leaf first if it is a chain): its thumbprint is computed from it. Leave it empty to give the thumbprint instead.',
			displayOptions: { show: { authentication: ['certificate'] } },
		},
		{
			displayName: 'Certificate Thumbprint',
			name: 'thumbprint',
			type: 'string',
			default: '',
			placeholder: '3F2A5B1C...',
			description:
				'When the certificate itself is not given: its thumbprint as the app registration shows it (SHA-1, 40 hex digits) or its SHA-256 (64)',
			displayOptions: { show: { authentication: ['certificate'] } },
		},
		{
			displayName: 'Authority Host',
			name: 'authorityHost',
			type: 'string',
			default: 'https://login.microsoftonline.com',
			description:
				'Where Entra ID signs the app in: change it for a sovereign cloud (https://login.microsoftonline.us) or the mfactl emulator',
		},
		{
			displayName: 'Graph URL',
			name: 'graphUrl',
			type: 'string',
			default: 'https://graph.microsoft.com',
			description:
				'Root of Microsoft Graph: change it for a sovereign cloud (https://graph.microsoft.us) or the mfactl emulator',
		},
		{
			displayName: 'Trusted CA Certificate (PEM)',
			name: 'caCertificate',
			type: 'string',
			typeOptions: { password: true, rows: 4 },
			default: '',
			placeholder: '-----BEGIN CERTIFICATE-----',
			description:
				'A CA certificate to trust besides the public ones, for endpoints with a private CA (the emulator, a TLS-inspecting proxy). Certificates stay verified.',
		},
	];
}
