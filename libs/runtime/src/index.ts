export { ConfigError, envName, type LoadConfigOptions, loadConfig, settingsOf } from './config.ts'
export {
  answerProbe,
  createMetricsRegistry,
  type HealthRoutesOptions,
  type HealthServer,
  healthRoutes,
  type ProbeAnswer,
  probePaths,
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
export { consumerLagMetric, ldapOperationMetric } from './metrics.ts'
