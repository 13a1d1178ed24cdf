/** Branded identifiers: mixing a tenant id with a resource id is a security bug. */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type TenantId = Brand<string, 'TenantId'>;
export type ClientId = Brand<string, 'ClientId'>;

export const DEFAULT_TENANT = 'default' as TenantId;

/** FHIR id: [A-Za-z0-9\-\.]{1,64} */
export const FHIR_ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

export function isFhirId(value: string): boolean {
  return FHIR_ID_PATTERN.test(value);
}

export function asTenantId(value: string): TenantId {
  return value as TenantId;
}
