/**
 * The appcmd adapter (Windows): %windir%\system32\inetsrv\appcmd.exe makes every change, so IIS
 * encrypts the password itself with its own provider and writes applicationHost.config its own way.
 * https://learn.microsoft.com/en-us/iis/get-started/getting-started-with-iis/getting-started-with-appcmdexe
 * The argv builders are pure (and unit-tested); running them needs IIS, which no krbfleet CI has.
 *
 * The password limit, honestly: appcmd takes it only as a command-line argument
 * (/processModel.password:...). It is passed as one argv element without a shell (no cmd.exe
 * parsing, nothing echoed), never logged, and removed from any appcmd output quoted in an error;
 * but while appcmd runs (well under a second) its command line is readable by local administrators
 * and SYSTEM, and by the Security event log when "Include command line in process creation events"
 * (event 4688) is on. Reading it back (/text:processModel.password) returns it through a pipe to
 * the agent only, which is how re-applying the same password changes nothing.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import type { BackendHealth } from '../../ports.ts'
import {
  type IisChange,
  IisConfigError,
  type IisConfigurator,
  IisFailure,
  type IisIdentity,
  type IisState,
  type IisTarget,
  sameIisName,
} from './configurator.ts'

export const DEFAULT_APPCMD = join(process.env.windir ?? 'C:\\Windows', 'System32', 'inetsrv', 'appcmd.exe')
const AUTH_SECTION = '-section:system.webServer/security/authentication/windowsAuthentication'

/** A value appcmd gets inside one argument: no quote (its own parser splits on them), no control character. */
function checked(value: string, what: string): string {
  if (/["\p{Cc}]/u.test(value)) {
    throw new IisConfigError(
      IisFailure.Malformed,
      `${what} contains a quote or a control character; appcmd cannot take it`,
    )
  }
  return value
}

function name(value: string, what: string): string {
  if (value === '' || /^[-/]/.test(value)) {
    throw new IisConfigError(IisFailure.Malformed, `${what} '${value}' is empty or starts with - or /`)
  }
  return checked(value, what)
}

export const appcmdArgs = {
  setPoolIdentity: (pool: string, identity: IisIdentity): string[] => [
    'set',
    'apppool',
    `/apppool.name:${name(pool, 'pool name')}`,
    '/processModel.identityType:SpecificUser',
    `/processModel.userName:${checked(identity.userName, 'user name')}`,
    `/processModel.password:${checked(identity.password, 'the password')}`,
  ],
  /** Empty userName and password are the schema defaults (the file adapter removes the attributes). */
  clearPoolIdentity: (pool: string): string[] => [
    'set',
    'apppool',
    `/apppool.name:${name(pool, 'pool name')}`,
    '/processModel.identityType:ApplicationPoolIdentity',
    '/processModel.userName:',
    '/processModel.password:',
  ],
  setSiteAuth: (site: string): string[] => [
    'set',
    'config',
    name(site, 'site name'),
    AUTH_SECTION,
    '/enabled:true',
    '/useAppPoolCredentials:true',
    '/commit:apphost',
  ],
  clearSiteAuth: (site: string): string[] => [
    'set',
    'config',
    name(site, 'site name'),
    AUTH_SECTION,
    '/useAppPoolCredentials:false',
    '/commit:apphost',
  ],
  readPool: (pool: string, attribute: 'identityType' | 'userName' | 'password'): string[] => [
    'list',
    'apppool',
    `/apppool.name:${name(pool, 'pool name')}`,
    `/text:processModel.${attribute}`,
  ],
  readSiteAuth: (site: string, attribute: 'enabled' | 'useAppPoolCredentials'): string[] => [
    'list',
    'config',
    name(site, 'site name'),
    AUTH_SECTION,
    `/text:${attribute}`,
  ],
  recycle: (pool: string): string[] => ['recycle', 'apppool', `/apppool.name:${name(pool, 'pool name')}`],
}

export interface AppcmdConfiguratorOptions {
  /** The program and any arguments before appcmd's own; default %windir%\system32\inetsrv\appcmd.exe. */
  command?: { file: string; args?: readonly string[] }
  /** Per run; default 60 s. */
  timeoutMs?: number
}

export function appcmdConfigurator(options: AppcmdConfiguratorOptions = {}): IisConfigurator {
  const file = options.command?.file ?? DEFAULT_APPCMD
  const prefix = options.command?.args ?? []
  const timeout = options.timeoutMs ?? 60_000

  const run = (args: string[], subject: string, secret?: string): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(
        file,
        [...prefix, ...args],
        { windowsHide: true, timeout, encoding: 'utf8' },
        (err, stdout, stderr) => {
          if (!err) return resolve(stdout)
          const said = redact(`${stdout}${stderr}`.trim(), secret).split(/\r?\n/)[0]?.slice(0, 300) ?? ''
          const missing = /cannot find/i.test(said)
          const failure = missing ? IisFailure.Missing : IisFailure.Io
          const why = said || (err as NodeJS.ErrnoException).code || 'failed'
          reject(new IisConfigError(failure, `appcmd ${args[0]} ${args[1]} for ${subject}: ${why}`))
        },
      )
    })
  const text = async (args: string[], subject: string) => (await run(args, subject)).replace(/\r?\n$/, '')

  const readPool = async (pool: string) => ({
    identityType: await text(appcmdArgs.readPool(pool, 'identityType'), `pool '${pool}'`),
    userName: await text(appcmdArgs.readPool(pool, 'userName'), `pool '${pool}'`),
  })
  const readSite = async (site: string) => ({
    enabled:
      (await text(appcmdArgs.readSiteAuth(site, 'enabled'), `site '${site}'`)).toLowerCase() === 'true',
    useAppPoolCredentials:
      (await text(appcmdArgs.readSiteAuth(site, 'useAppPoolCredentials'), `site '${site}'`)).toLowerCase() ===
      'true',
  })

  return {
    kind: 'appcmd',
    async apply(target: IisTarget, identity: IisIdentity): Promise<IisChange> {
      let changed = false
      for (const pool of target.pools) {
        const now = await readPool(pool)
        const password = await run(appcmdArgs.readPool(pool, 'password'), `pool '${pool}'`, identity.password)
        const same =
          now.identityType === 'SpecificUser' &&
          sameIisName(now.userName, identity.userName) &&
          password.replace(/\r?\n$/, '') === identity.password
        if (same) continue
        await run(appcmdArgs.setPoolIdentity(pool, identity), `pool '${pool}'`, identity.password)
        changed = true
      }
      for (const site of target.sites) {
        const now = await readSite(site)
        if (now.enabled && now.useAppPoolCredentials) continue
        await run(appcmdArgs.setSiteAuth(site), `site '${site}'`)
        changed = true
      }
      return { changed }
    },
    async clear(target: IisTarget, userName: string): Promise<IisChange> {
      let changed = false
      for (const pool of target.pools) {
        const now = await readPool(pool)
        if (now.identityType !== 'SpecificUser' || !sameIisName(now.userName, userName)) continue
        await run(appcmdArgs.clearPoolIdentity(pool), `pool '${pool}'`)
        changed = true
      }
      for (const site of target.sites) {
        if (!(await readSite(site)).useAppPoolCredentials) continue
        await run(appcmdArgs.clearSiteAuth(site), `site '${site}'`)
        changed = true
      }
      return { changed }
    },
    async read(target: IisTarget): Promise<IisState> {
      const pools = []
      for (const pool of target.pools) {
        const now = await readPool(pool)
        const hasPassword = (await run(appcmdArgs.readPool(pool, 'password'), `pool '${pool}'`)).trim() !== ''
        pools.push({
          name: pool,
          identityType: now.identityType,
          userName: now.userName || undefined,
          hasPassword,
        })
      }
      const sites = []
      for (const site of target.sites) sites.push({ name: site, ...(await readSite(site)) })
      return { pools, sites }
    },
    async recycle(pools: readonly string[]): Promise<void> {
      for (const pool of pools) await run(appcmdArgs.recycle(pool), `pool '${pool}'`)
    },
    async health(): Promise<BackendHealth> {
      try {
        await run(['list', 'apppool', '/text:name'], 'the application pools')
        return { ok: true }
      } catch (err) {
        return { ok: false, detail: (err as Error).message }
      }
    },
  }
}

function redact(output: string, secret: string | undefined): string {
  return secret ? output.split(secret).join('[redacted]') : output
}
