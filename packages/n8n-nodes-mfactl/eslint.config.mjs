import { configWithoutCloudSupport } from '@n8n/node-cli/eslint';

// n8n's own lint config for community nodes. Without n8n Cloud support: the node bundles @mfactl/core,
// which uses Node's crypto, TLS and network modules, so it is for self-hosted n8n.
export default [
	{ ignores: ['dist/**', 'e2e/**', 'scripts/**', 'node_modules/**'] },
	...configWithoutCloudSupport,
	{
		// The backends speak core's errors (UsageError, GraphError, ...); the node maps every one of them to
		// NodeApiError or NodeOperationError at its edge (errors.ts), with the item index.
		files: ['nodes/PerUserMfa/backends/**/*.ts', 'nodes/PerUserMfa/transport.ts', 'nodes/PerUserMfa/credential-tests.ts'],
		rules: { '@n8n/community-nodes/require-node-api-error': 'off' },
	},
	{
		// "mfactl" is written in lower case, and the Microsoft Graph credential is an app registration, not an API
		// key: its name (mfactlMicrosoftGraphApp) is the one workflows refer to, so it keeps it.
		files: ['credentials/**/*.ts', 'nodes/PerUserMfa/PerUserMfa.node.ts', 'nodes/PerUserMfa/description.ts'],
		rules: {
			'n8n-nodes-base/cred-class-field-display-name-miscased': 'off',
			'n8n-nodes-base/cred-class-field-display-name-missing-api': 'off',
			'n8n-nodes-base/cred-class-name-unsuffixed': 'off',
			'n8n-nodes-base/cred-class-field-name-unsuffixed': 'off',
			'n8n-nodes-base/node-class-description-credentials-name-unsuffixed': 'off',
			'n8n-nodes-base/node-param-display-name-miscased': 'off',
		},
	},
	{
		files: ['test/**/*.ts'],
		rules: { 'no-console': 'off', '@n8n/community-nodes/require-node-api-error': 'off' },
	},
];
