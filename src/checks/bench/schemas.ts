import {readFileSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {type AnySchema, Ajv, type ErrorObject, type Options, type ValidateFunction} from 'ajv'
import {Ajv2019} from 'ajv/dist/2019.js'
import {Ajv2020} from 'ajv/dist/2020.js'
import formats from 'ajv-formats'
import {packageRoot} from '../../lib/package-root.js'
import {ExitCode, PocError, errorMessage} from '../../stack/errors.js'

/**
 * Whose bench result a document is, and so whose rules judge it:
 * - poc: ours (fixtures/schemas/bench.v1.schema.json), judged by our rules;
 * - seed-v1: the seed's contracts/bench.v1.schema.json (`version: "v1"`, what its
 *   bench/old/run_canary.sh writes), judged as its scripts/old/slo_gate.py judges;
 * - seed-bench-v1: the seed's contracts/bench/v1/schema.json (`schema: "bench.v1"`, what its
 *   tools/old/bench.sh and scripts/old/agg_to_bench.py write), judged as its tools/old/gate.py.
 * What poc bench writes follows all three and is judged as poc.
 */
export const benchShapes = ['poc', 'seed-v1', 'seed-bench-v1'] as const
export type BenchShape = (typeof benchShapes)[number]

export const shapeSchemaFiles: Record<BenchShape, string> = {
  poc: 'fixtures/schemas/bench.v1.schema.json',
  'seed-v1': 'fixtures/schemas/seed/bench.v1.schema.json',
  'seed-bench-v1': 'fixtures/schemas/seed/bench-v1.schema.json',
}

export const shapeTitles: Record<BenchShape, string> = {
  poc: 'a poc bench.v1 result',
  'seed-v1': 'a seed bench result (its contracts/bench.v1.schema.json, version v1)',
  'seed-bench-v1': 'a seed bench result (its contracts/bench/v1/schema.json, schema bench.v1)',
}

export interface SchemaError {
  /** JSON pointer into the file ('' for the document itself), as ajv reports it. */
  instancePath: string
  message: string
}

export type Validation = {ok: true} | {ok: false; errors: SchemaError[]}
export type Validator = (value: unknown) => Validation

function ajvFor(schema: {$schema?: unknown}, options: Options): Ajv {
  const dialect = typeof schema.$schema === 'string' ? schema.$schema : ''
  if (dialect.includes('2020-12')) return new Ajv2020(options)
  if (dialect.includes('2019-09')) return new Ajv2019(options)
  return new Ajv(options)
}

/**
 * Ours is checked with formats (a timestamp must be a date-time). A schema of the seed's, or one
 * given with --schema, is checked as the seed's gate checks it (Python jsonschema's validate):
 * formats are annotations, not assertions.
 */
function compile(schema: object & {$schema?: unknown}, ours: boolean): Validator {
  const options: Options = ours
    ? {allErrors: true}
    : {allErrors: true, strict: false, validateFormats: false, validateSchema: false}
  const ajv = ajvFor(schema, options)
  if (ours) formats.default(ajv)
  const validate: ValidateFunction = ajv.compile(schema as AnySchema)
  return (value) =>
    validate(value) ? {ok: true} : {ok: false, errors: (validate.errors ?? []).map(schemaError)}
}

const compiled = new Map<BenchShape, Validator>()

export function validatorOf(shape: BenchShape): Validator {
  let validator = compiled.get(shape)
  if (!validator) {
    const schema = JSON.parse(readFileSync(path.join(packageRoot, shapeSchemaFiles[shape]), 'utf8')) as object
    validator = compile(schema, shape === 'poc')
    compiled.set(shape, validator)
  }
  return validator
}

function schemaError(error: ErrorObject): SchemaError {
  const params = error.params as {allowedValue?: unknown; allowedValues?: unknown}
  const allowed = params.allowedValue ?? params.allowedValues
  const message = error.message ?? error.keyword
  return {
    instancePath: error.instancePath,
    message: allowed === undefined ? message : `${message} ${JSON.stringify(allowed)}`,
  }
}

export function formatSchemaError(error: SchemaError): string {
  return `${error.instancePath || '(the document)'} ${error.message}`
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * The shape a document means to be, from what only that shape has: our client-side figures, the
 * seed's `version: "v1"`, or the seed's `schema: "bench.v1"` without a version.
 */
export function intendedShape(value: unknown): BenchShape {
  if (!isObject(value)) return 'poc'
  const metrics = isObject(value.metrics) ? value.metrics : {}
  const environment = isObject(value.environment) ? value.environment : {}
  if ('http' in metrics || 'runner_label' in environment || value.version === 'bench.v1') return 'poc'
  if (value.version === 'v1' || 'fast_path' in metrics || 'summary' in metrics) return 'seed-v1'
  if (value.schema === 'bench.v1' || 'latency_us' in metrics) return 'seed-bench-v1'
  return 'poc'
}

export type Detection =
  | {ok: true; shape: BenchShape; schemaFile: string}
  | {ok: false; shape: BenchShape; schemaFile: string; errors: SchemaError[]}

/**
 * Which schema the document follows: the one it means to follow (intendedShape), and for a seed
 * result also the seed's other one. A poc result that breaks ours is broken, even though the seed
 * fields it carries would still follow the seed's looser contracts/bench/v1 schema. A document
 * that follows none is reported against the schema it means to follow.
 */
export function detectShape(value: unknown): Detection {
  const intended = intendedShape(value)
  const candidates: BenchShape[] =
    intended === 'poc' ? ['poc'] : [intended, intended === 'seed-v1' ? 'seed-bench-v1' : 'seed-v1']
  const validations = candidates.map((shape) => ({shape, validation: validatorOf(shape)(value)}))
  const valid = validations.find((v) => v.validation.ok)
  if (valid) return {ok: true, shape: valid.shape, schemaFile: shapeSchemaFiles[valid.shape]}
  const errors = (validations[0]?.validation as {ok: false; errors: SchemaError[]}).errors
  return {ok: false, shape: intended, schemaFile: shapeSchemaFiles[intended], errors}
}

/** --schema FILE: validate against that file alone (the seed gate's --schema), judged by intendedShape. */
export async function detectWithSchema(value: unknown, schemaFile: string): Promise<Detection> {
  const validate = await loadSchemaFile(schemaFile)
  const shape = intendedShape(value)
  const validation = validate(value)
  const file = path.resolve(schemaFile)
  return validation.ok
    ? {ok: true, shape, schemaFile: file}
    : {ok: false, shape, schemaFile: file, errors: validation.errors}
}

async function loadSchemaFile(schemaFile: string): Promise<Validator> {
  const file = path.resolve(schemaFile)
  const fail = (why: string, cause?: unknown) =>
    new PocError(`the schema ${file} ${why}`, {
      exitCode: ExitCode.unavailable,
      code: 'schema_unusable',
      cause,
      suggestions: [
        'Pass a JSON Schema file, such as the seed’s contracts/bench.v1.schema.json, or leave --schema out.',
      ],
    })
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw fail(`cannot be read: ${errorMessage(error)}`, error)
  }
  let schema: unknown
  try {
    schema = JSON.parse(text)
  } catch (error) {
    throw fail(`is not JSON: ${errorMessage(error)}`, error)
  }
  if (!isObject(schema) && typeof schema !== 'boolean') throw fail('is not a JSON Schema (not an object)')
  try {
    return compile(schema as object, false)
  } catch (error) {
    throw fail(`is not a usable JSON Schema: ${errorMessage(error)}`, error)
  }
}
