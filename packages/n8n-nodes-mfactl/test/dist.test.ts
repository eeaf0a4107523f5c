/**
 * The built package as n8n loads it: `require` of the CommonJS files package.json's `n8n` section
 * names (no runtime dependency but n8n-workflow), their descriptions, and a Get against the
 * emulator with the built node. The root `npm test` builds it first; elsewhere a missing build is
 * skipped with the reason (under MFACTL_E2E=1, CI, it fails).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type RunningEmulator } from '@mfactl/emulator';
import type { ICredentialType, INodeType } from 'n8n-workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNode } from './execute-functions';
import { graphCredential, usersIn } from './fixtures';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { name: string; n8n: { n8nNodesApiVersion: number; nodes: string[]; credentials: string[] }; dependencies?: object; keywords: string[] };
const built = [...pkg.n8n.nodes, ...pkg.n8n.credentials].every((f) => existsSync(join(packageDir, f)));
const missing = 'the package is not built: npm run build -w n8n-nodes-mfactl';
if (!built && process.env.MFACTL_E2E !== '1') console.warn(`dist test skipped: ${missing}`);

const load = <T>(file: string): T => {
	const exports = createRequire(join(packageDir, 'package.json'))(join(packageDir, file)) as Record<string, unknown>;
	// n8n takes the class named after the file.
	const name = file.split('/').at(-1)!.replace(/\.(node|credentials)\.js$/, '');
	const Class = exports[name] as (new () => T) | undefined;
	if (!Class) throw new Error(`${file} exports no class ${name}`);
	return new Class();
};

describe.skipIf(!built && process.env.MFACTL_E2E !== '1')('the built package (dist)', () => {
	let emu: RunningEmulator;
	beforeAll(async () => {
		if (!built) throw new Error(missing);
		emu = await startEmulator({ tenants: 1, users: 6, seed: 'n8n-dist' });
	});
	afterAll(() => emu?.close());

	it('is an n8n community package with no runtime dependencies', () => {
		expect(pkg.name).toBe('n8n-nodes-mfactl');
		expect(pkg.keywords).toContain('n8n-community-node-package');
		expect(pkg.n8n.n8nNodesApiVersion).toBe(1);
		expect(pkg.dependencies).toBeUndefined();
		for (const file of [...pkg.n8n.nodes, ...pkg.n8n.credentials]) {
			const code = readFileSync(join(packageDir, file), 'utf8');
			const required = new Set([...code.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!));
			// node:sqlite: a built-in from Node 22 on (n8n 2 runs on 24), required lazily by the bundled undici.
			expect([...required].filter((r) => r !== 'n8n-workflow' && r !== 'node:sqlite' && !isBuiltin(r))).toStrictEqual([]);
		}
	});

	it('loads the node and credentials by require, with their descriptions and icons', () => {
		const node = load<INodeType>(pkg.n8n.nodes[0]!);
		expect(node.description).toMatchObject({ name: 'perUserMfa', displayName: 'Per-User MFA', version: 1 });
		expect(node.description.credentials?.map((c) => [c.name, c.testedBy])).toStrictEqual([
			['mfactlMicrosoftGraphApp', 'mfactlMicrosoftGraphAppTest'],
			['mfactlServerApi', 'mfactlServerApiTest'],
			['mfactlCippApi', 'mfactlCippApiTest'],
		]);
		expect(Object.keys(node.methods?.credentialTest ?? {}).sort()).toStrictEqual(['mfactlCippApiTest', 'mfactlMicrosoftGraphAppTest', 'mfactlServerApiTest']);
		const icon = node.description.icon as { light: string; dark: string };
		for (const file of [icon.light, icon.dark]) expect(existsSync(join(packageDir, dirname(pkg.n8n.nodes[0]!), file.replace(/^file:/, '')))).toBe(true);
		expect(pkg.n8n.credentials.map((f) => load<ICredentialType>(f).name)).toStrictEqual(['mfactlMicrosoftGraphApp', 'mfactlServerApi', 'mfactlCippApi']);
	});

	it('runs Get against the emulator', async () => {
		const node = load<INodeType>(pkg.n8n.nodes[0]!);
		const tenant = emu.tenants[0]!.domain;
		const user = usersIn(emu, tenant, 'disabled')[0]!;
		const { output } = await runNode(node, {
			parameters: { authentication: 'microsoftGraphApp', operation: 'get', tenant, user: user.userPrincipalName },
			credentials: { mfactlMicrosoftGraphApp: graphCredential(emu) },
		});
		expect(output[0]![0]).toStrictEqual({ json: { userId: user.id, userPrincipalName: user.userPrincipalName, tenantFilter: tenant, mfaState: 'disabled' }, pairedItem: { item: 0 } });
	});
});
