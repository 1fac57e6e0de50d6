/** Public API of sigflow's configuration: the root schema assembled from the components' schemas. See README.md. */
export {
  configSchema,
  type SigflowConfig,
  type SigflowConfigInput,
  type SinkEntry,
  type SinkEntryConfig,
  sinkEntrySchema,
} from './schema.js';
export { ConfigError, validateConfig } from './validate.js';
