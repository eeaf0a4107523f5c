import type { ICredentialType, INodeProperties } from 'n8n-workflow';

/** An API key for an mfactl server (`mfactl serve`). Tested by the Per-User MFA node (`mfactlServerApiTest`). */
export class MfactlServerApi implements ICredentialType {
	name = 'mfactlServerApi';

	displayName = 'mfactl Server API';

	icon = { light: 'file:../icons/mfactl.svg', dark: 'file:../icons/mfactl.dark.svg' } as const;

	documentationUrl = 'https://www.npmjs.com/package/n8n-nodes-mfactl#mfactl-server-api';

	properties: INodeProperties[] = [
		{
			displayName: 'Server URL',
			name: 'url',
			type: 'string',
			default: '',
			required: true,
			placeholder: 'https://mfactl.example.net:8443',
		},
		{
			displayName: 'API Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			placeholder: 'mfak_…',
			description:
				'A key made with `mfactl apikey create`: scope read for Get and List, write for Set and Bulk Set',
		},
		{
			displayName: 'Trusted CA Certificate (PEM)',
			name: 'caCertificate',
			type: 'string',
			typeOptions: { password: true, rows: 4 },
			default: '',
			placeholder: '-----BEGIN CERTIFICATE-----',
			description:
				'The CA that signed the server’s certificate, when it is a private one. Certificates stay verified.',
		},
	];
}
