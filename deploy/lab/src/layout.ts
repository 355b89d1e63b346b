import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'

/** The repository root: deploy/lab/src -> ../../.. */
export const repoRoot = resolve(import.meta.dirname, '..', '..', '..')

/**
 * Where everything of one lab lives. `LAB_DIR` moves it (the e2e test uses a temporary folder so
 * that it never touches a developer's `.lab`).
 */
export interface LabLayout {
  root: string
  /** Pid files, one JSON record per started process. */
  run: string
  logs: string
  nats: string
  dc: string
  /** Passwords, key-encryption key, tokens: mode 0700 folder, 0600 files. */
  secrets: string
  /** Ports, DC address and what has been set up once. */
  stateFile: string
  envFile: string
  serversFile: string
  /** `krbfleet test assignment` HTML reports, one per site. */
  reports: string
  krb5Conf: string
}

export function labLayout(root: string): LabLayout {
  return {
    root,
    run: join(root, 'run'),
    logs: join(root, 'logs'),
    nats: join(root, 'nats'),
    dc: join(root, 'dc'),
    secrets: join(root, 'secrets'),
    stateFile: join(root, 'lab.json'),
    envFile: join(root, 'env'),
    serversFile: join(root, 'servers.json'),
    reports: join(root, 'reports'),
    krb5Conf: join(root, 'krb5.conf'),
  }
}

export async function ensureFolders(layout: LabLayout): Promise<void> {
  for (const dir of [layout.root, layout.run, layout.logs, layout.nats]) await mkdir(dir, { recursive: true })
  await mkdir(layout.secrets, { recursive: true, mode: 0o700 })
  await chmod(layout.secrets, 0o700)
}

/** Writes a file atomically with the given mode (secrets: 0600, created with that mode, never wider). */
export async function writeFileAtomic(path: string, content: string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const temp = `${path}.${process.pid}.tmp`
  await writeFile(temp, content, { mode })
  await chmod(temp, mode)
  await rename(temp, path)
}

/** Reads a secret file of the lab, creating it with `make()` (mode 0600) on first use. */
export async function secretFile(layout: LabLayout, name: string, make: () => string): Promise<string> {
  const path = join(layout.secrets, name)
  if (existsSync(path)) return (await readFile(path, 'utf8')).trim()
  const value = make()
  await writeFileAtomic(path, `${value}\n`, 0o600)
  return value
}

export function secretPath(layout: LabLayout, name: string): string {
  return join(layout.secrets, name)
}

/**
 * A random password that also passes AD's default complexity rule (upper, lower, digit, symbol)
 * for user accounts; computer accounts accept anything.
 */
export function randomPassword(bytes = 24): string {
  return `Lab-${randomBytes(bytes).toString('base64url')}-9a`
}
