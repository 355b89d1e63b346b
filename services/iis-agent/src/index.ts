export * from './domain/credential-lifecycle.ts'
