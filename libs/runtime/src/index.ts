export { ConfigError, envName, type LoadConfigOptions, loadConfig, settingsOf } from './config.ts'
export {
  buildHealthApp,
  createMetricsRegistry,
  type HealthAppOptions,
  type HealthRoutesOptions,
  type HealthServer,
  healthRoutes,
  type ReadinessCheck,
  type StartHealthServerOptions,
  startHealthServer,
} from './health.ts'
export {
  type RunServiceOptions,
  runService,
  type ServiceContext,
  type ServiceParts,
  type StoppablePart,
  shutdownPhases,
  stopParts,
} from './service.ts'
export { HttpSettings, retiredSettings } from './settings.ts'
