import type { ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * A CIPP instance's API (CIPP-API integration): a client-credentials token for
 * `api://<client id>/.default`. Tested by the Per-User MFA node (`mfactlCippApiTest`).
 */
export class MfactlCippApi implements ICredentialType {
	name = 'mfactlCippApi';

	displayName = 'mfactl CIPP API';

	icon = { light: 'file:../icons/mfactl.svg', dark: 'file:../icons/mfactl.dark.svg' } as const;

	documentationUrl = 'https://docs.cipp.app/user-documentation/cipp/integrations/cipp-api';

	properties: INodeProperties[] = [
		{
			displayName: 'CIPP URL',
			name: 'url',
			type: 'string',
			default: '',
			required: true,
			placeholder: 'https://cipp.example.net',
			description: 'The CIPP instance’s address (its API is under /api)',
		},
		{
			displayName: 'Tenant ID',
			name: 'tenantId',
			type: 'string',
			default: '',
			required: true,
			description: 'The tenant of the CIPP-API app registration (the partner tenant)',
		},
		{
			displayName: 'Client ID',
			name: 'clientId',
			type: 'string',
			default: '',
			required: true,
			description: 'Application (client) ID of the CIPP-API app; the token is asked for api://<client ID>/.default',
		},
		{
			displayName: 'Client Secret',
			name: 'clientSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
		},
		{
			displayName: 'Authority Host',
			name: 'authorityHost',
			type: 'string',
			default: 'https://login.microsoftonline.com',
			description: 'Where Entra ID issues the token: change it for a sovereign cloud or the mfactl emulator',
		},
		{
			displayName: 'Trusted CA Certificate (PEM)',
			name: 'caCertificate',
			type: 'string',
			typeOptions: { password: true, rows: 4 },
			default: '',
			placeholder: '-----BEGIN CERTIFICATE-----',
			description: 'A CA certificate to trust besides the public ones. Certificates stay verified.',
		},
	];
}
