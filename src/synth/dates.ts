/** Time arithmetic in epoch milliseconds, always UTC, so output never depends on the host's zone. */

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;
export const YEAR_MS = 365.25 * DAY_MS;

/** FHIR dateTime with seconds precision and an explicit zone. */
export function toDateTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/** FHIR date (YYYY-MM-DD). */
export function toDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function ageInYears(birthMs: number, atMs: number): number {
  return (atMs - birthMs) / YEAR_MS;
}
