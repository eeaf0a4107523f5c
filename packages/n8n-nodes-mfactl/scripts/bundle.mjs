// Bundles the node and its credentials into CommonJS for n8n: @mfactl/core (ESM) and its
// dependencies go inside; n8n-workflow stays outside (n8n provides it). Runs after `n8n-node build`,
// which type-checks and copies the icons into dist/.
import { builtinModules } from 'node:module';
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const credentials = (await readdir(join(root, 'credentials'))).filter((f) => f.endsWith('.credentials.ts')).map((f) => `credentials/${f}`);
const entryPoints = ['nodes/PerUserMfa/PerUserMfa.node.ts', ...credentials];

const result = await build({
	absWorkingDir: root,
	entryPoints,
	outdir: 'dist',
	outbase: '.',
	bundle: true,
	platform: 'node',
	target: 'node20',
	format: 'cjs',
	external: ['n8n-workflow'],
	legalComments: 'eof',
	metafile: true,
	logLevel: 'warning',
});

// n8n reads a node's codex (categories, links) from the .node.json beside its .node.js.
await mkdir(join(root, 'dist/nodes/PerUserMfa'), { recursive: true });
await copyFile(join(root, 'nodes/PerUserMfa/PerUserMfa.node.json'), join(root, 'dist/nodes/PerUserMfa/PerUserMfa.node.json'));

// The package has no runtime dependencies: what the bundles still require must be n8n-workflow or Node's own.
// node:sqlite is a built-in of the Node versions n8n 2 runs on (undici loads it lazily, for a cache store unused here).
const allowed = new Set(['n8n-workflow', 'node:sqlite', ...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
const problems = [];
for (const file of Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js'))) {
	const text = await readFile(join(root, file), 'utf8');
	for (const m of text.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)) {
		if (!allowed.has(m[1])) problems.push(`${file}: require("${m[1]}")`);
	}
}
if (problems.length > 0) {
	console.error(`The bundles require packages n8n does not provide:\n  ${[...new Set(problems)].join('\n  ')}`);
	process.exit(1);
}
for (const [file, output] of Object.entries(result.metafile.outputs)) {
	if (file.endsWith('.js')) console.log(`${file}  ${(output.bytes / 1024).toFixed(0)} KiB`);
}
