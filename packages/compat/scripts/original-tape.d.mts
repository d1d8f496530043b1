export interface OriginalTapeFileResult {
  planned: number
  passed: number
  failed: number
  exit: number | null
  timedOut: boolean
  failures: string[]
  stderr: string[]
}
export function runOriginalTape(
  dir: string,
  options?: { timeoutMs?: number },
): { total: { planned: number; passed: number }; results: Record<string, OriginalTapeFileResult> }
