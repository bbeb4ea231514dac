import assert from "node:assert/strict";

/** One resource of a synthesised CloudFormation template. */
export interface Resource {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
}

export interface Found {
  readonly id: string;
  readonly properties: Record<string, unknown>;
}

export interface Statement {
  readonly Effect: string;
  readonly Action: unknown;
  readonly Resource?: unknown;
  readonly Principal?: unknown;
  readonly Condition?: unknown;
}

/** The single resource of a type (and matching a predicate); fails when there are none or several. */
export function findOne(resources: Record<string, Resource>, type: string, matches: (found: Found) => boolean = () => true): Found {
  const found = Object.entries(resources)
    .filter(([, resource]) => resource.Type === type)
    .map(([id, resource]) => ({ id, properties: resource.Properties }))
    .filter(matches);
  assert.equal(found.length, 1, `exactly one ${type} expected, found ${found.length}`);
  return found[0]!;
}

export function containerOf(resources: Record<string, Resource>): Record<string, unknown> {
  const definitions = findOne(resources, "AWS::ECS::TaskDefinition").properties.ContainerDefinitions as Record<string, unknown>[];
  assert.equal(definitions.length, 1);
  return definitions[0]!;
}

export function environmentOf(container: Record<string, unknown>): Map<string, unknown> {
  const variables = container.Environment as { Name: string; Value: unknown }[];
  return new Map(variables.map(({ Name, Value }) => [Name, Value]));
}

/** Whether a template value holds a Ref to, or a GetAtt of, the resource with that logical id. */
export function refersTo(value: unknown, logicalId: string, kind: "Ref" | "Fn::GetAtt"): boolean {
  const text = JSON.stringify(value) ?? "";
  return kind === "Ref" ? text.includes(`{"Ref":"${logicalId}"}`) : text.includes(`{"Fn::GetAtt":["${logicalId}",`);
}

export function statementsOf(document: unknown): Statement[] {
  return (document as { Statement: Statement[] }).Statement;
}
