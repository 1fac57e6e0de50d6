/** Public API of sigflow's configuration: the root schema assembled from the components' schemas. See README.md. */
export {
  type LoadConfigOptions,
  type LoadedConfig,
  loadAndValidateConfig,
  loadConfigFile,
  REDACTED,
  redactSecrets,
} from './load.js';
export {
  configSchema,
  DEFAULT_SERVER_LISTEN,
  httpAuthOf,
  type LoggingConfig,
  loggingConfigSchema,
  type PipelineEntry,
  pipelineEntrySchema,
  type RuntimeConfig,
  runtimeConfigSchema,
  type ServerConfig,
  type SigflowConfig,
  type SigflowConfigInput,
  type SinkEntry,
  type SinkEntryConfig,
  serverConfigSchema,
  sinkEntrySchema,
} from './schema.js';
export { ConfigError, type ConfigPosition, type LocateConfig, validateConfig } from './validate.js';
