/** JetStream "wrong last sequence" (10071) on update, or "key exists" on create. */
export function isCasFailure(err: unknown): boolean {
  const e = err as { code?: unknown; api_error?: { err_code?: number } } | undefined
  if (e?.code === 10071 || e?.code === '10071' || e?.api_error?.err_code === 10071) return true
  return err instanceof Error && /wrong last sequence|key exists/i.test(err.message)
}
