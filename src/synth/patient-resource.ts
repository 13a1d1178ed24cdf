import { DAY_MS, YEAR_MS, toDate } from './dates.js';
import { synthMeta } from './fhir-shapes.js';
import type { FhirResource } from './fhir-shapes.js';
import type { Rng } from './random.js';
import { SYSTEMS } from './vocab.js';
import { FAMILY, FEMALE_GIVEN, MALE_GIVEN, PLACES, STREETS, STREET_SUFFIXES } from './vocab-people.js';

/** What the clinical generators need to know about a patient, beyond the Patient resource. */
export interface PatientProfile {
  id: string;
  sex: 'female' | 'male';
  birthMs: number;
  /** Adult height in cm; children grow towards it. */
  adultHeightCm: number;
  /** Body mass index the patient's weight is derived from. */
  bmi: number;
}

function drawProfile(rng: Rng, id: string, referenceMs: number): PatientProfile {
  const sex = rng.chance(0.51) ? 'female' : 'male';
  // Ages skew adult, as in a clinic population: |N(42, 22)| within [3 months, 100 years]
  // (the lower bound leaves room for at least one visit before the reference date).
  const age = Math.min(100, Math.max(0.25, Math.abs(rng.normal(42, 22))));
  const birthDay = Math.floor((referenceMs - age * YEAR_MS) / DAY_MS);
  const adultHeightCm = rng.normal(sex === 'female' ? 163 : 176, 7);
  const bmi = Math.min(50, Math.max(17, rng.normal(27.5, 5)));
  return { id, sex, birthMs: birthDay * DAY_MS, adultHeightCm, bmi };
}

function digits(rng: Rng, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += String(rng.int(0, 9));
  return out;
}

function identifiers(rng: Rng, seed: number, index: number): unknown[] {
  return [
    {
      use: 'usual',
      type: { coding: [{ system: SYSTEMS.identifierType, code: 'MR', display: 'Medical record number' }] },
      system: SYSTEMS.mrn,
      // The seed is part of the MRN so that runs with different seeds never share a patient identity.
      value: `SYN${seed}-${String(index).padStart(8, '0')}`,
    },
    {
      use: 'official',
      type: { coding: [{ system: SYSTEMS.identifierType, code: 'SS', display: 'Social Security number' }] },
      system: SYSTEMS.ssn,
      // Area 999 is never issued by the SSA, so these cannot collide with a real person.
      value: `999-${digits(rng, 2)}-${digits(rng, 4)}`,
    },
  ];
}

function address(rng: Rng): { address: unknown[]; phone: string } {
  const place = rng.pick(PLACES);
  const line = `${rng.int(1, 9999)} ${rng.pick(STREETS)} ${rng.pick(STREET_SUFFIXES)}`;
  const postalCode = `${place.zip3}${digits(rng, 2)}`;
  // 555-0100..0199 is reserved for fiction.
  const phone = `${place.area}-555-01${digits(rng, 2)}`;
  return {
    address: [{ use: 'home', type: 'physical', line: [line], city: place.city, state: place.state, postalCode, country: 'US' }],
    phone,
  };
}

function humanName(rng: Rng, sex: PatientProfile['sex']): unknown {
  const pool = sex === 'female' ? FEMALE_GIVEN : MALE_GIVEN;
  const given = rng.chance(0.4) ? [rng.pick(pool), rng.pick(pool)] : [rng.pick(pool)];
  return { use: 'official', family: rng.pick(FAMILY), given };
}

/** Draws the patient and builds its Patient resource. */
export function buildPatient(
  rng: Rng,
  id: string,
  seed: number,
  index: number,
  referenceMs: number,
): { profile: PatientProfile; patient: FhirResource } {
  const profile = drawProfile(rng, id, referenceMs);
  const { address: addr, phone } = address(rng);
  const patient: FhirResource = {
    resourceType: 'Patient',
    id,
    meta: synthMeta(),
    identifier: identifiers(rng, seed, index),
    active: true,
    name: [humanName(rng, profile.sex)],
    telecom: [{ system: 'phone', value: phone, use: rng.chance(0.7) ? 'mobile' : 'home' }],
    gender: profile.sex,
    birthDate: toDate(profile.birthMs),
    address: addr,
  };
  return { profile, patient };
}
