-- The FHIR resource a workforce user is (docs/security/identity.md, "Identity planes"): SMART App Launch's
-- `openid fhirUser` asks for a resolvable `fhirUser`, which patients have through patient_id; workforce
-- users get `Practitioner/{id}` or `PractitionerRole/{id}` here, set through the admin API. Stored as the
-- relative reference; the id_token carries the absolute URL on the tenant's FHIR base. Nullable: an
-- unlinked user signs in as before, with no fhirUser claim. The check keeps the planes apart in the
-- database too: a patient-plane user is never a Practitioner.
ALTER TABLE app_user ADD COLUMN workforce_fhir_user text;
ALTER TABLE app_user ADD CONSTRAINT app_user_workforce_fhir_user CHECK (
  workforce_fhir_user IS NULL
  OR (plane = 'workforce' AND workforce_fhir_user ~ '^(Practitioner|PractitionerRole)/[A-Za-z0-9.-]{1,64}$')
);
