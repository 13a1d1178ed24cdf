/** The example: eye colour as a Patient extension, searchable as a token. */
export const EYE_URL = 'http://example.org/eyecolor';
export const EYE_PARAM_URL = 'http://example.org/fhir/SearchParameter/patient-eyecolor';

export type Resource = { resourceType: string; [k: string]: unknown };

export function eyeColorParam(overrides: Record<string, unknown> = {}): Resource {
  return {
    resourceType: 'SearchParameter',
    url: EYE_PARAM_URL,
    name: 'eyecolor',
    status: 'active',
    description: 'Eye colour of the patient',
    code: 'eyecolor',
    base: ['Patient'],
    type: 'token',
    expression: `Patient.extension.where(url='${EYE_URL}').value`,
    ...overrides,
  };
}

export function patient(family: string, eye?: string): Resource {
  return {
    resourceType: 'Patient',
    name: [{ family }],
    ...(eye ? { extension: [{ url: EYE_URL, valueCode: eye }] } : {}),
  };
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not reached in time');
}
