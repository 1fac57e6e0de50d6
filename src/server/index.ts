/** The HTTP server: Grafana protocols over the query engine. See README.md. */

export type { ConsoleOptions } from './console/api.js';
export { CONSOLE_VIEWS } from './console/pages.js';
export { type RunWeb, startRunWeb } from './run-web.js';
export { type AuthOptions, buildServer, type ServerOptions } from './server.js';
export { dataRoot, type RunningServer, type ServeOptions, startDashboards, startServe } from './service.js';
