/**
 * Compact clinical vocabularies for synthetic data. Codes are real (LOINC,
 * SNOMED CT, RxNorm, CVX — most as used by Synthea) so that terminology-aware
 * search and analytics behave as with real data; displays are shortened.
 * Value distributions are plausible adult ranges, not clinical reference ranges.
 */

export const SYSTEMS = {
  loinc: 'http://loinc.org',
  snomed: 'http://snomed.info/sct',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  cvx: 'http://hl7.org/fhir/sid/cvx',
  ucum: 'http://unitsofmeasure.org',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  obsCategory: 'http://terminology.hl7.org/CodeSystem/observation-category',
  conditionClinical: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
  conditionVerification: 'http://terminology.hl7.org/CodeSystem/condition-ver-status',
  conditionCategory: 'http://terminology.hl7.org/CodeSystem/condition-category',
  identifierType: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  actReason: 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
  mrn: 'urn:oid:2.16.840.1.113883.3.7418.2.1',
  ssn: 'http://hl7.org/fhir/sid/us-ssn',
} as const;

export interface Concept {
  code: string;
  display: string;
}

/** A numeric measurement: LOINC code, UCUM unit, normal(mean, sd) clamped to [min, max]. */
export interface Measure extends Concept {
  unit: string;
  mean: number;
  sd: number;
  min: number;
  max: number;
  decimals: number;
  /** Shifted mean when the patient has this SNOMED condition (e.g. glucose in diabetes). */
  shift?: { condition: string; mean: number };
  /** Mean offset at birth, fading linearly to 0 at age 18 (infants breathe and beat faster). */
  childDelta?: number;
}

function m(code: string, display: string, unit: string, dist: [number, number, number, number, number]): Measure {
  const [mean, sd, min, max, decimals] = dist;
  return { code, display, unit, mean, sd, min, max, decimals };
}

const HTN = '38341003';
const DM2 = '44054006';
const LIPID = '55822004';
const CKD = '709044004';

/** Vital signs drawn at every encounter (weight, height and BMI are derived from the patient). */
export const VITALS = {
  heartRate: { ...m('8867-4', 'Heart rate', '/min', [74, 10, 45, 180, 0]), childDelta: 46 },
  respiratoryRate: { ...m('9279-1', 'Respiratory rate', '/min', [15, 2, 10, 60, 0]), childDelta: 20 },
  temperature: m('8310-5', 'Body temperature', 'Cel', [36.8, 0.35, 35.5, 39.8, 1]),
  oxygenSaturation: m('59408-5', 'Oxygen saturation by Pulse oximetry', '%', [97.5, 1.2, 88, 100, 0]),
  weight: m('29463-7', 'Body weight', 'kg', [0, 0, 2, 250, 1]),
  height: m('8302-2', 'Body height', 'cm', [0, 0, 45, 210, 1]),
  bmi: m('39156-5', 'Body mass index (BMI) [Ratio]', 'kg/m2', [0, 0, 10, 70, 1]),
  systolic: { ...m('8480-6', 'Systolic blood pressure', 'mm[Hg]', [122, 12, 65, 210, 0]), shift: { condition: HTN, mean: 145 }, childDelta: -32 },
  diastolic: { ...m('8462-4', 'Diastolic blood pressure', 'mm[Hg]', [78, 8, 35, 130, 0]), shift: { condition: HTN, mean: 92 }, childDelta: -25 },
} satisfies Record<string, Measure>;

export const BP_PANEL: Concept = { code: '85354-9', display: 'Blood pressure panel with all children optional' };

/** Laboratory results; a random subset is drawn at some encounters. */
export const LABS: readonly Measure[] = [
  { ...m('2339-0', 'Glucose [Mass/volume] in Blood', 'mg/dL', [92, 12, 55, 450, 0]), shift: { condition: DM2, mean: 165 } },
  { ...m('4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood', '%', [5.4, 0.35, 4, 14, 1]), shift: { condition: DM2, mean: 7.9 } },
  { ...m('2093-3', 'Cholesterol [Mass/volume] in Serum or Plasma', 'mg/dL', [185, 28, 100, 400, 0]), shift: { condition: LIPID, mean: 245 } },
  m('2571-8', 'Triglyceride [Mass/volume] in Serum or Plasma', 'mg/dL', [130, 45, 35, 600, 0]),
  m('2085-9', 'HDL Cholesterol [Mass/volume] in Serum or Plasma', 'mg/dL', [55, 12, 20, 110, 0]),
  m('18262-6', 'LDL Cholesterol [Mass/volume] in Serum or Plasma by Direct assay', 'mg/dL', [105, 25, 30, 260, 0]),
  { ...m('2160-0', 'Creatinine [Mass/volume] in Serum or Plasma', 'mg/dL', [0.95, 0.18, 0.4, 8, 2]), shift: { condition: CKD, mean: 2.1 } },
  m('3094-0', 'Urea nitrogen [Mass/volume] in Serum or Plasma', 'mg/dL', [14, 4, 5, 80, 0]),
  m('2951-2', 'Sodium [Moles/volume] in Serum or Plasma', 'mmol/L', [140, 2.5, 125, 155, 0]),
  m('2823-3', 'Potassium [Moles/volume] in Serum or Plasma', 'mmol/L', [4.2, 0.35, 2.8, 6.5, 1]),
  m('718-7', 'Hemoglobin [Mass/volume] in Blood', 'g/dL', [14, 1.4, 7, 19, 1]),
  m('6690-2', 'Leukocytes [#/volume] in Blood by Automated count', '10*3/uL', [7, 1.8, 2.5, 25, 1]),
  m('777-3', 'Platelets [#/volume] in Blood by Automated count', '10*3/uL', [250, 55, 90, 550, 0]),
];

export interface ConditionDef extends Concept {
  /** Long-lasting (stays active) or acute (resolves with an abatement date). */
  chronic: boolean;
  /** Rough chance that one patient has it at some point in the window. */
  prevalence: number;
  minAge: number;
}

function c(code: string, display: string, chronic: boolean, prevalence: number, minAge = 0): ConditionDef {
  return { code, display, chronic, prevalence, minAge };
}

export const CONDITIONS: readonly ConditionDef[] = [
  c(HTN, 'Hypertension', true, 0.3, 25),
  c(DM2, 'Diabetes mellitus type 2', true, 0.11, 25),
  c(LIPID, 'Hyperlipidemia', true, 0.2, 25),
  c('195967001', 'Asthma', true, 0.08),
  c('13645005', 'Chronic obstructive lung disease', true, 0.05, 45),
  c('35489007', 'Depressive disorder', true, 0.08, 12),
  c('197480006', 'Anxiety disorder', true, 0.07, 12),
  c('414916001', 'Obesity', true, 0.12, 10),
  c('239873007', 'Osteoarthritis of knee', true, 0.07, 45),
  c('69896004', 'Rheumatoid arthritis', true, 0.01, 30),
  c('49436004', 'Atrial fibrillation', true, 0.03, 55),
  c('53741008', 'Coronary arteriosclerosis', true, 0.05, 50),
  c(CKD, 'Chronic kidney disease', true, 0.04, 40),
  c('40930008', 'Hypothyroidism', true, 0.05, 20),
  c('235595009', 'Gastroesophageal reflux disease', true, 0.08, 18),
  c('37796009', 'Migraine', true, 0.06, 10),
  c('444814009', 'Viral sinusitis', false, 0.3),
  c('10509002', 'Acute bronchitis', false, 0.15),
  c('195662009', 'Acute viral pharyngitis', false, 0.2),
  c('43878008', 'Streptococcal sore throat', false, 0.08),
  c('68566005', 'Urinary tract infectious disease', false, 0.08),
  c('65363002', 'Otitis media', false, 0.1),
];

export interface MedicationDef extends Concept {
  /** SNOMED code of the condition this treats. */
  treats: string;
  dosage: string;
}

function rx(code: string, display: string, treats: string, dosage: string): MedicationDef {
  return { code, display, treats, dosage };
}

export const MEDICATIONS: readonly MedicationDef[] = [
  rx('314076', 'lisinopril 10 MG Oral Tablet', HTN, 'Take 1 tablet by mouth once daily'),
  rx('197361', 'amlodipine 5 MG Oral Tablet', HTN, 'Take 1 tablet by mouth once daily'),
  rx('310798', 'Hydrochlorothiazide 25 MG Oral Tablet', HTN, 'Take 1 tablet by mouth every morning'),
  rx('860975', '24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet', DM2, 'Take 1 tablet by mouth with evening meal'),
  rx('259255', 'Atorvastatin 80 MG Oral Tablet', LIPID, 'Take 1 tablet by mouth at bedtime'),
  rx('314231', 'Simvastatin 10 MG Oral Tablet', LIPID, 'Take 1 tablet by mouth at bedtime'),
  rx('895994', 'Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler', '195967001', 'Inhale 2 puffs twice daily'),
  rx('745679', 'Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler', '13645005', 'Inhale 2 puffs every 4 hours as needed'),
  rx('312938', 'Sertraline 100 MG Oral Tablet', '35489007', 'Take 1 tablet by mouth once daily'),
  rx('966247', 'Levothyroxine Sodium 0.075 MG Oral Tablet', '40930008', 'Take 1 tablet by mouth before breakfast'),
  rx('855332', 'Warfarin Sodium 5 MG Oral Tablet', '49436004', 'Take as directed by anticoagulation clinic'),
  rx('309362', 'Clopidogrel 75 MG Oral Tablet', '53741008', 'Take 1 tablet by mouth once daily'),
  rx('562251', 'Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet', '444814009', 'Take 1 tablet by mouth every 12 hours for 10 days'),
  rx('834060', 'Penicillin V Potassium 250 MG Oral Tablet', '43878008', 'Take 1 tablet by mouth 4 times daily for 10 days'),
  rx('308182', 'Amoxicillin 250 MG Oral Capsule', '65363002', 'Take 1 capsule by mouth 3 times daily for 7 days'),
  rx('310965', 'Ibuprofen 200 MG Oral Tablet', '239873007', 'Take 1-2 tablets by mouth every 6 hours as needed'),
  rx('313782', 'Acetaminophen 325 MG Oral Tablet', '10509002', 'Take 2 tablets by mouth every 6 hours as needed'),
];

export interface ProcedureDef extends Concept {
  minAge: number;
  sex?: 'female' | 'male';
}

export const PROCEDURES: readonly ProcedureDef[] = [
  { code: '430193006', display: 'Medication reconciliation', minAge: 0 },
  { code: '171207006', display: 'Depression screening', minAge: 12 },
  { code: '29303009', display: 'Electrocardiographic procedure', minAge: 30 },
  { code: '127783003', display: 'Spirometry', minAge: 6 },
  { code: '117015009', display: 'Throat culture', minAge: 2 },
  { code: '399208008', display: 'Plain chest X-ray', minAge: 0 },
  { code: '76601001', display: 'Intramuscular injection', minAge: 0 },
  { code: '73761001', display: 'Colonoscopy', minAge: 45 },
  { code: '71651007', display: 'Mammography', minAge: 40, sex: 'female' },
  { code: '80146002', display: 'Appendectomy', minAge: 5 },
];

export interface VaccineDef extends Concept {
  minAge: number;
  maxAge: number;
}

export const VACCINES: readonly VaccineDef[] = [
  { code: '140', display: 'Influenza, seasonal, injectable, preservative free', minAge: 0.5, maxAge: 120 },
  { code: '208', display: 'COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose', minAge: 12, maxAge: 120 },
  { code: '08', display: 'Hep B, adolescent or pediatric', minAge: 0, maxAge: 18 },
  { code: '03', display: 'MMR', minAge: 1, maxAge: 6 },
  { code: '21', display: 'varicella', minAge: 1, maxAge: 12 },
  { code: '115', display: 'Tdap', minAge: 11, maxAge: 120 },
  { code: '62', display: 'HPV, quadrivalent', minAge: 9, maxAge: 26 },
  { code: '133', display: 'Pneumococcal conjugate PCV 13', minAge: 65, maxAge: 120 },
  { code: '187', display: 'zoster recombinant', minAge: 50, maxAge: 120 },
];

export interface EncounterKind {
  classCode: 'AMB' | 'EMER' | 'IMP' | 'VR';
  classDisplay: string;
  type: Concept;
  /** Relative frequency and duration range in minutes. */
  weight: number;
  minutes: [number, number];
}

export const ENCOUNTER_KINDS: readonly EncounterKind[] = [
  { classCode: 'AMB', classDisplay: 'ambulatory', type: { code: '185349003', display: 'Encounter for check up' }, weight: 40, minutes: [15, 45] },
  { classCode: 'AMB', classDisplay: 'ambulatory', type: { code: '185345009', display: 'Encounter for symptom' }, weight: 30, minutes: [15, 40] },
  { classCode: 'AMB', classDisplay: 'ambulatory', type: { code: '390906007', display: 'Follow-up encounter' }, weight: 15, minutes: [15, 30] },
  { classCode: 'VR', classDisplay: 'virtual', type: { code: '448337001', display: 'Telemedicine consultation with patient' }, weight: 6, minutes: [10, 30] },
  { classCode: 'EMER', classDisplay: 'emergency', type: { code: '50849002', display: 'Emergency room admission' }, weight: 6, minutes: [90, 480] },
  { classCode: 'IMP', classDisplay: 'inpatient encounter', type: { code: '32485007', display: 'Hospital admission' }, weight: 3, minutes: [1440, 7200] },
];
