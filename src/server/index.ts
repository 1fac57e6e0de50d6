/** The HTTP server: Grafana protocols over the query engine. See README.md. */
export { type AuthOptions, buildServer, type ServerOptions } from './server.js';
export { dataRoot, type RunningServer, type ServeOptions, startDashboards, startServe } from './service.js';
