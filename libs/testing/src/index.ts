export * from './nats.ts'
export * from './processes.ts'
export * from './system.ts'
