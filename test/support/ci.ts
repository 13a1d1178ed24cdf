/**
 * Whether a test that needs an optional system package (Debian chromium,
 * SoftHSM2) must fail rather than skip when it is missing: when its
 * HAVEN_REQUIRE_* variable is 1 (set by .ci/run), or on any CI runner
 * (`CI=true`, set by GitHub Actions, GitLab CI and others), so that a CI job
 * started without .ci/run cannot pass with the proof silently skipped.
 */
export function requiredHere(variable: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return env[variable] === '1' || env['CI'] === 'true';
}
