/** The supervisor of `sigflow run`: units in child processes, restarts, stats, metrics and health (README.md). */
export { type HttpFallback, type MetricsServer, metricsRegistry, startMetricsServer } from './http.js';
export { parseListen } from './listen.js';
export {
  adoptPendingConfig,
  type CheckedConfig,
  checkConfigFile,
  type RunServiceOptions,
  runService,
} from './service.js';
export { type RunStatus, Supervisor, type SupervisorOptions } from './supervisor.js';
export { Unit, type UnitState, type UnitStatus } from './unit.js';
