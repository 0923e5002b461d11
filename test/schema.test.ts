import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { plugin, type SchemaASTConfig } from '@graphql-codegen/schema-ast';
import {
  buildSchema,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isRequiredArgument,
  isScalarType,
  isUnionType,
  parse,
  print,
  visit,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import codegenConfig from '../codegen.js';
import { schema } from '../src/schema/index.js';

const PRINTED_FILE = 'schema/schema.graphql';
const root = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));
const printedSdl = readFileSync(root(PRINTED_FILE), 'utf8');
const contractSdl = readFileSync(root('schema/contract.graphql'), 'utf8');

/** The schema-ast options codegen.ts uses for schema/schema.graphql, so this test prints exactly what codegen writes. */
function schemaAstOptions(): SchemaASTConfig {
  const output = codegenConfig.generates[PRINTED_FILE];
  if (output === undefined || typeof output !== 'object' || Array.isArray(output) || !('plugins' in output)) {
    throw new Error(`codegen.ts no longer generates ${PRINTED_FILE} with a plugins list; update test/schema.test.ts`);
  }
  expect(output.plugins).toEqual(['schema-ast']);
  return (output.config ?? {}) as SchemaASTConfig;
}

describe('printed schema', () => {
  it(`${PRINTED_FILE} is what codegen prints from src/schema`, async () => {
    const options = schemaAstOptions();
    expect(options).toEqual({ sort: true, includeDirectives: false });
    const output = await plugin(schema, [], options);
    expect(typeof output, 'schema-ast returned a complex output').toBe('string');
    // Only a trailing newline may differ (editors add one); everything else must match exactly.
    const trim = (text: string): string => text.replace(/\n+$/, '');
    expect(trim(printedSdl), `${PRINTED_FILE} is out of date with src/schema: run npm run codegen and commit the result`).toBe(trim(output as string));
  });
});

// ---------------------------------------------------------------------------------------------
// The contract: schema/contract.graphql marks what the gateway must serve.
//
// Marking convention (from the file's header and its use):
//   - a description containing "[core]" marks the element (type, scalar, enum, field) as core;
//   - "[delivery]" marks it as belonging to the delivery capability: ignored here;
//   - a type marked [core] makes all its fields, arguments and enum values core, except a field
//     that says [delivery];
//   - "[core; after: delivery]" marks the field core but its `after` argument delivery.
// ---------------------------------------------------------------------------------------------

type Mark = 'core' | 'delivery';

interface Marking {
  readonly mark: Mark | undefined;
  /** Per-argument overrides, from "[core; arg: delivery]". */
  readonly args: ReadonlyMap<string, Mark>;
}

function markingOf(description: string | null | undefined): Marking {
  const args = new Map<string, Mark>();
  const tag = /\[(core|delivery)((?:;[^\]]*)?)\]/.exec(description ?? '');
  if (tag === null) return { mark: undefined, args };
  for (const part of (tag[2] ?? '').split(';')) {
    const override = /^\s*(\w+)\s*:\s*(core|delivery)\s*$/.exec(part);
    if (override !== null) args.set(override[1]!, override[2] as Mark);
    else if (part.trim() !== '') throw new Error(`contract: cannot read marking "${tag[0]}"`);
  }
  return { mark: tag[1] as Mark, args };
}

/** Object, interface and input types; input fields have no `args`, and are never asked for them. */
type Fielded = { getFields(): Record<string, GraphQLField<unknown, unknown>> };

function kindOf(type: GraphQLNamedType): string {
  if (isScalarType(type)) return 'scalar';
  if (isObjectType(type)) return 'type';
  if (isInterfaceType(type)) return 'interface';
  if (isUnionType(type)) return 'union';
  if (isEnumType(type)) return 'enum';
  if (isInputObjectType(type)) return 'input';
  return 'unknown';
}

interface ContractReport {
  /** Every core element checked, e.g. "Mutation.publish(topic)". */
  readonly checked: string[];
  /** What the served schema lacks or has differently. */
  readonly problems: string[];
}

/** Checks every [core] element of `contract` against `served`. */
function checkContract(contract: GraphQLSchema, served: GraphQLSchema): ContractReport {
  const checked: string[] = [];
  const problems: string[] = [];
  /** The served type of the same name and kind, or undefined (with the problem recorded). */
  const counterpart = (type: GraphQLNamedType): GraphQLNamedType | undefined => {
    const actual = served.getType(type.name);
    if (actual === undefined) {
      problems.push(`${kindOf(type)} ${type.name} is missing`);
      return undefined;
    }
    if (kindOf(actual) !== kindOf(type)) {
      problems.push(`${type.name} is a ${kindOf(actual)}, the contract says ${kindOf(type)}`);
      return undefined;
    }
    return actual;
  };
  const contractTypes = Object.values(contract.getTypeMap()).filter((type) => !type.name.startsWith('__'));

  for (const type of contractTypes) {
    if (isScalarType(type) && ['String', 'Int', 'Float', 'Boolean', 'ID'].includes(type.name)) continue;
    const typeMark = markingOf(type.description).mark;
    if (typeMark === 'delivery') continue;

    if (isScalarType(type) || isEnumType(type) || isUnionType(type)) {
      if (typeMark !== 'core') continue;
      checked.push(type.name);
      const actual = counterpart(type);
      if (actual === undefined) continue;
      if (isEnumType(type) && isEnumType(actual)) {
        for (const value of type.getValues()) {
          if (markingOf(value.description).mark === 'delivery') continue;
          checked.push(`${type.name}.${value.name}`);
          if (actual.getValue(value.name) === undefined) problems.push(`enum value ${type.name}.${value.name} is missing`);
        }
      }
      if (isUnionType(type) && isUnionType(actual)) {
        const members = new Set(actual.getTypes().map((member) => member.name));
        for (const member of type.getTypes()) {
          if (!members.has(member.name)) problems.push(`union ${type.name} lacks member ${member.name}`);
        }
      }
      continue;
    }

    if (!isObjectType(type) && !isInterfaceType(type) && !isInputObjectType(type)) {
      problems.push(`contract has ${(type as GraphQLNamedType).name} of a kind this test does not know; extend test/schema.test.ts`);
      continue;
    }
    const fields: GraphQLField<unknown, unknown>[] = Object.values((type as unknown as Fielded).getFields()).filter((field) => {
      const mark = markingOf(field.description).mark ?? typeMark;
      return mark === 'core';
    });
    if (typeMark !== 'core' && fields.length === 0) continue;

    checked.push(type.name);
    const actual = counterpart(type);
    if (actual === undefined) continue;
    const actualFields: Record<string, GraphQLField<unknown, unknown>> = (actual as unknown as Fielded).getFields();
    for (const field of fields) {
      const where = `${type.name}.${field.name}`;
      checked.push(where);
      const servedField = actualFields[field.name];
      if (servedField === undefined) {
        problems.push(`field ${where} is missing`);
        continue;
      }
      if (String(servedField.type) !== String(field.type)) {
        problems.push(`field ${where} is ${String(servedField.type)}, the contract says ${String(field.type)}`);
      }
      if (!isInputObjectType(type)) problems.push(...checkArguments(where, field, servedField, markingOf(field.description).args, checked));
    }
  }
  return { checked, problems };
}

function checkArguments(
  where: string,
  contractField: GraphQLField<unknown, unknown>,
  servedField: GraphQLField<unknown, unknown>,
  overrides: ReadonlyMap<string, Mark>,
  checked: string[],
): string[] {
  const problems: string[] = [];
  const servedArgs = new Map(servedField.args.map((arg) => [arg.name, arg] as const));
  const contractArgs = new Map(contractField.args.map((arg) => [arg.name, arg] as const));
  for (const name of overrides.keys()) {
    if (!contractArgs.has(name)) problems.push(`contract marks ${where}(${name}) but the field has no such argument`);
  }
  for (const arg of contractField.args) {
    const mark = overrides.get(arg.name) ?? markingOf(arg.description).mark ?? 'core';
    if (mark === 'delivery') continue;
    const label = `${where}(${arg.name})`;
    checked.push(label);
    const served = servedArgs.get(arg.name);
    if (served === undefined) {
      problems.push(`argument ${label} is missing`);
      continue;
    }
    if (String(served.type) !== String(arg.type)) {
      problems.push(`argument ${label} is ${String(served.type)}, the contract says ${String(arg.type)}`);
    }
    if (arg.defaultValue !== undefined && !sameDefault(arg, served)) {
      problems.push(`argument ${label} defaults to ${JSON.stringify(served.defaultValue)}, the contract says ${JSON.stringify(arg.defaultValue)}`);
    }
  }
  // The served schema may add arguments, but only ones a contract-following client can leave out.
  for (const arg of servedField.args) {
    if (!contractArgs.has(arg.name) && isRequiredArgument(arg)) {
      problems.push(`argument ${where}(${arg.name}) is not in the contract and is required`);
    }
  }
  return problems;
}

/** `sdl` without the given "Type.field" or "Enum.VALUE" elements. */
function withoutElements(sdl: string, elements: readonly string[]): string {
  const drop = new Set(elements);
  const keep = (parent: string) => (node: { name: { value: string } }) => !drop.has(`${parent}.${node.name.value}`);
  return print(
    visit(parse(sdl), {
      ObjectTypeDefinition: (node) => ({ ...node, fields: node.fields?.filter(keep(node.name.value)) }),
      EnumTypeDefinition: (node) => ({ ...node, values: node.values?.filter(keep(node.name.value)) }),
    }),
  );
}

const sameDefault = (a: GraphQLArgument, b: GraphQLArgument): boolean => JSON.stringify(a.defaultValue) === JSON.stringify(b.defaultValue);

describe('API contract (schema/contract.graphql)', () => {
  const contract = buildSchema(contractSdl);

  it(`${PRINTED_FILE} has every [core] type, field, argument and enum value of the contract`, () => {
    const { checked, problems } = checkContract(contract, buildSchema(printedSdl));
    expect(problems, `${PRINTED_FILE} breaks the contract`).toEqual([]);
    // The marking was read: the core surface is all there, the delivery parts are not.
    expect(checked).toEqual(
      expect.arrayContaining([
        'DateTime',
        'JSON',
        'Scope.MANAGE',
        'Viewer.expiresAt',
        'Message.id',
        'Message.publisher',
        'Query.viewer',
        'Query.topic(name)',
        'Mutation.publish(topic)',
        'Mutation.publish(payload)',
        'Mutation.signSubscription(ttlSeconds)',
        'Subscription.topic',
        'Subscription.topic(name)',
        'Subscription.broadcasts',
      ]),
    );
    for (const delivery of ['Topic.subscriberCount', 'Query.history', 'Mutation.renewConnection', 'Subscription.topic(after)']) {
      expect(checked).not.toContain(delivery);
    }
  });

  it(`${PRINTED_FILE} serves the [delivery] history, resume and renewal fields as the contract types them`, () => {
    const served = buildSchema(printedSdl);
    const signature = (schema: typeof contract, type: 'Query' | 'Mutation' | 'Subscription', field: string): string => {
      const found = (type === 'Query' ? schema.getQueryType() : type === 'Mutation' ? schema.getMutationType() : schema.getSubscriptionType())?.getFields()[
        field
      ];
      if (found === undefined) return 'missing';
      const args = [...found.args].sort((a, b) => a.name.localeCompare(b.name));
      return `${args.map((arg) => `${arg.name}: ${String(arg.type)}${arg.defaultValue === undefined ? '' : ` = ${JSON.stringify(arg.defaultValue)}`}`).join(', ')} -> ${String(found.type)}`;
    };
    for (const [type, field] of [
      ['Query', 'history'],
      ['Mutation', 'renewConnection'],
      ['Subscription', 'topic'],
      ['Subscription', 'broadcasts'],
    ] as const) {
      expect(signature(served, type, field), `${type}.${field}`).toBe(signature(contract, type, field));
    }
    expect(signature(served, 'Query', 'history')).toBe('after: ID, limit: Int = 100, topic: String! -> [Message!]!');
  });

  it('reads the marking convention of the contract file', () => {
    expect(markingOf('Messages ... [core; after: delivery]')).toEqual({ mark: 'core', args: new Map([['after', 'delivery']]) });
    expect(markingOf('[core]')).toEqual({ mark: 'core', args: new Map() });
    expect(markingOf('Kept messages. [delivery]')).toEqual({ mark: 'delivery', args: new Map() });
    expect(markingOf('No mark here.')).toEqual({ mark: undefined, args: new Map() });
    expect(markingOf(undefined).mark).toBeUndefined();
  });

  it('reports what a schema lacks or changes (the check is not vacuous)', () => {
    const doctored = withoutElements(printedSdl, ['Message.publisher', 'Scope.MANAGE', 'Topic.subscriberCount'])
      .replace('viewer: Viewer!', 'viewer: Viewer')
      .replace('publish(payload: JSON!, topic: String!)', 'publish(payload: JSON!, topicName: String!, priority: Int!)')
      .replace('signSubscription(topics: [String!], ttlSeconds: Int = 60)', 'signSubscription(topics: [String!], ttlSeconds: Int = 30)');
    expect(doctored).not.toBe(printedSdl);
    const { problems } = checkContract(contract, buildSchema(doctored));
    expect(problems.sort()).toEqual(
      [
        'argument Mutation.publish(priority) is not in the contract and is required',
        'argument Mutation.publish(topic) is missing',
        'argument Mutation.publish(topicName) is not in the contract and is required',
        'argument Mutation.signSubscription(ttlSeconds) defaults to 30, the contract says 60',
        'enum value Scope.MANAGE is missing',
        'field Message.publisher is missing',
        'field Query.viewer is Viewer, the contract says Viewer!',
      ].sort(),
    );
  });
});
