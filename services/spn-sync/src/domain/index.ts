export * from './desired.ts'
export * from './diff.ts'
export * from './ownership.ts'
export * from './spn.ts'
