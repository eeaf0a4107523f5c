/**
 * n8n's execution interfaces for tests: an IExecuteFunctions that runs a node's `execute` as n8n
 * does (input items, parameters per item with the description's defaults filled in by n8n-workflow's
 * own NodeHelpers, credentials by type, Continue On Fail from the node's onError, paired items),
 * and an ICredentialTestFunctions for `methods.credentialTest`. Anything else a node reaches for
 * fails loudly, so a test never passes on a member n8n would provide differently.
 */
import {
	ApplicationError,
	NodeHelpers,
	type ICredentialDataDecryptedObject,
	type ICredentialsDecrypted,
	type ICredentialTestFunctions,
	type IDataObject,
	type IExecuteFunctions,
	type INode,
	type INodeCredentialTestResult,
	type INodeExecutionData,
	type INodeParameters,
	type INodeType,
	type NodeParameterValueType,
} from 'n8n-workflow';

/** A parameter as a workflow holds it: a value, or (like an expression) a function of the item. */
export type Parameter = NodeParameterValueType | ((json: IDataObject, itemIndex: number) => NodeParameterValueType);

export interface RunOptions {
	parameters: Record<string, Parameter>;
	/** Input items' json; default one empty item (a Manual Trigger's). */
	items?: IDataObject[];
	/** Decrypted credentials by credential type name. */
	credentials?: Record<string, ICredentialDataDecryptedObject>;
	/** The node's "On Error" setting: Continue (regular output). */
	continueOnFail?: boolean;
}

export interface Run {
	output: INodeExecutionData[][];
	/** Credential types the node asked for. */
	credentialsAsked: string[];
}

/** Runs `execute` of a node through an IExecuteFunctions; rejects with what the node throws. */
export async function runNode(nodeType: INodeType, options: RunOptions): Promise<Run> {
	if (!nodeType.execute) throw new Error('The node has no execute method.');
	const description = nodeType.description;
	const items: INodeExecutionData[] = (options.items ?? [{}]).map((json, i) => ({ json, pairedItem: { item: i } }));
	const node: INode = {
		id: '5d0c5e29-5d1b-4a8c-9d51-0f8d3b0c7a11',
		name: description.defaults.name ?? description.displayName,
		type: `n8n-nodes-mfactl.${description.name}`,
		typeVersion: 1,
		position: [0, 0],
		parameters: resolvedParameters(nodeType, options.parameters, items[0]?.json ?? {}, 0),
		onError: options.continueOnFail ? 'continueRegularOutput' : 'stopWorkflow',
	};
	const credentialsAsked: string[] = [];
	const cancel = new AbortController();

	const getNodeParameter = (parameterName: string, itemIndex: number, fallbackValue?: unknown): unknown => {
		const item = items[itemIndex];
		if (item === undefined) throw new ApplicationError(`No item ${itemIndex}: the node has ${items.length} input items.`);
		const value = lookup(resolvedParameters(nodeType, options.parameters, item.json, itemIndex), parameterName);
		if (value === undefined) {
			if (fallbackValue !== undefined) return fallbackValue;
			throw new ApplicationError('Could not get parameter', { extra: { parameterName } });
		}
		return structuredClone(value);
	};

	const implemented: Partial<IExecuteFunctions> = {
		getInputData: () => items,
		getNodeParameter: getNodeParameter as IExecuteFunctions['getNodeParameter'],
		getNode: () => node,
		continueOnFail: () => node.onError === 'continueRegularOutput' || node.onError === 'continueErrorOutput',
		getExecutionCancelSignal: () => cancel.signal,
		getMode: () => 'manual',
		getCredentials: async <T extends object = ICredentialDataDecryptedObject>(type: string): Promise<T> => {
			credentialsAsked.push(type);
			const declared = description.credentials?.some((c) => c.name === type) ?? false;
			const data = options.credentials?.[type];
			if (!declared || data === undefined) throw new ApplicationError(`Node "${node.name}" does not have any credentials of type "${type}" set`);
			return structuredClone(data) as T;
		},
	};
	const context = new Proxy(implemented, {
		get(target, property, receiver) {
			if (typeof property === 'string' && !(property in target)) throw new Error(`The test's IExecuteFunctions has no ${property}: add it faithfully if the node needs it.`);
			return Reflect.get(target, property, receiver) as unknown;
		},
	}) as IExecuteFunctions;

	const output = (await nodeType.execute.call(context)) as INodeExecutionData[][];
	return { output, credentialsAsked };
}

/** The node's parameters for one item: expressions (functions) evaluated, then n8n's defaults and display rules applied. */
function resolvedParameters(nodeType: INodeType, raw: Record<string, Parameter>, json: IDataObject, itemIndex: number): INodeParameters {
	const values: INodeParameters = {};
	for (const [key, value] of Object.entries(raw)) values[key] = (typeof value === 'function' ? value(json, itemIndex) : value) as INodeParameters[string];
	const resolved = NodeHelpers.getNodeParameters(nodeType.description.properties, values, true, false, { typeVersion: 1 }, nodeType.description);
	if (!resolved) throw new Error('n8n-workflow resolved no parameters for the node.');
	return resolved;
}

/** `options.timeout` and the like, as getNodeParameter reads dotted paths. */
function lookup(parameters: INodeParameters, path: string): unknown {
	let current: unknown = parameters;
	for (const part of path.split('.')) {
		if (typeof current !== 'object' || current === null) return undefined;
		current = (current as Record<string, unknown>)[part];
	}
	return current;
}

/** Calls `methods.credentialTest[name]` as n8n's credentials service does: the decrypted credential, a test context. */
export async function testCredential(nodeType: INodeType, name: string, type: string, data: ICredentialDataDecryptedObject): Promise<INodeCredentialTestResult> {
	const test = nodeType.methods?.credentialTest?.[name];
	if (!test) throw new Error(`The node has no credential test ${name}.`);
	const declared = nodeType.description.credentials?.find((c) => c.name === type);
	if (declared?.testedBy !== name) throw new Error(`Credential ${type} is not tested by ${name} in the node's description.`);
	const logger = { error() {}, warn() {}, info() {}, debug() {}, verbose() {}, log() {} } as unknown as ICredentialTestFunctions['logger'];
	const context = {
		logger,
		helpers: {
			request: () => Promise.reject(new Error('The credential test made an n8n helper request; it should use its own transport.')),
		},
	} as unknown as ICredentialTestFunctions;
	const credential: ICredentialsDecrypted = { id: 'test-credential', name: `${type} (test)`, type, data };
	return await test.call(context, credential);
}
