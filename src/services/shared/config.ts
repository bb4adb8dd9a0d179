import {z} from 'zod'

/**
 * Typed configuration from environment variables. Every service parses its env through one
 * schema built on `baseConfig`, so a wrong value fails at start with the variable's name.
 */
export const baseConfig = z.object({
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(1).max(65_535),
  AMQP_URL: z.string().default('amqp://guest:guest@127.0.0.1:5672'),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  NUM_SHARDS: z.coerce.number().int().min(1).max(64).default(4),
  IDEMP_TTL_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(24 * 60 * 60 * 1000),
  /** Where the service keeps its files (state, outbox): $POC_HOME/data/<service>. */
  DATA_DIR: z.string(),
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
})
export type BaseConfig = z.infer<typeof baseConfig>

export class ConfigError extends Error {}

export function parseConfig<T extends z.ZodTypeAny>(
  schema: T,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<T> {
  const result = schema.safeParse(env)
  if (result.success) return result.data
  const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`)
}
