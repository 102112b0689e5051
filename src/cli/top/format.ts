/** Short, fixed-style numbers for `herd top`: absent values read `-`, like the other CLI tables. */

export const ABSENT = '-'

/** A rate per second: two decimals below 1 (one request a minute reads 0.02, not 0.0), one below 10, whole above. */
export function rate(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return ABSENT
  if (v === 0) return '0'
  return v < 1 ? v.toFixed(2) : v < 10 ? v.toFixed(1) : String(Math.round(v))
}

export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return ABSENT
  return v < 10 ? v.toFixed(1) : String(Math.round(v))
}

/** MiB as GiB with one decimal. */
export function gib(mb: number): string {
  return (Math.max(mb, 0) / 1024).toFixed(1)
}

/** A duration such as `42s`, `12m03s`, `3h07m`, `2d04h`. */
export function duration(msValue: number | null | undefined): string {
  if (msValue === null || msValue === undefined || !Number.isFinite(msValue)) return ABSENT
  const s = Math.max(0, Math.floor(msValue / 1000))
  const two = (n: number): string => String(n).padStart(2, '0')
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`
  if (s < 86_400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`
  return `${Math.floor(s / 86_400)}d${two(Math.floor(s / 3600) % 24)}h`
}

/** A heartbeat age such as `0.4s`, `12s`, `3m20s`. */
export function age(msValue: number | null | undefined): string {
  if (msValue === null || msValue === undefined || !Number.isFinite(msValue)) return ABSENT
  return msValue < 10_000 ? `${(Math.max(msValue, 0) / 1000).toFixed(1)}s` : duration(msValue)
}

/** The local wall-clock time `HH:MM:SS`. */
export function clock(epochMs: number): string {
  const d = new Date(epochMs)
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':')
}
