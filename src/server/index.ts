export { buildApp, type AppContext } from './app.js';
export { startServer, type ServerOptions, type RunningServer } from './start.js';
