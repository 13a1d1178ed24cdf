/**
 * The search parameter holding each Patient-compartment type's care date:
 * when the care happened, not when the record changed (`_lastUpdated`).
 * `Patient/{id}/$everything?start=…&end=…` keeps the resources whose care
 * date overlaps the range (R4: "the date range relates to care dates, not
 * record currency dates"). Mostly the R4 `date` parameter of clinical
 * resources; the others name their own (a Condition's onset, a
 * MedicationRequest's authoring). Types not listed (Patient, Coverage,
 * RelatedPerson, Device, …) have no care date and are always in scope.
 * test/fhir/care-dates.test.ts checks each entry is an R4 date parameter of
 * its type.
 */
export const CARE_DATE_PARAMS: Readonly<Record<string, string>> = {
  AdverseEvent: 'date',
  AllergyIntolerance: 'date',
  Appointment: 'date',
  CarePlan: 'date',
  CareTeam: 'date',
  ChargeItem: 'entered-date',
  Claim: 'created',
  ClaimResponse: 'created',
  ClinicalImpression: 'date',
  Communication: 'sent',
  CommunicationRequest: 'authored',
  Composition: 'date',
  Condition: 'onset-date',
  Consent: 'date',
  CoverageEligibilityRequest: 'created',
  CoverageEligibilityResponse: 'created',
  DetectedIssue: 'identified',
  DeviceRequest: 'event-date',
  DiagnosticReport: 'date',
  DocumentManifest: 'created',
  DocumentReference: 'date',
  Encounter: 'date',
  EpisodeOfCare: 'date',
  ExplanationOfBenefit: 'created',
  FamilyMemberHistory: 'date',
  Flag: 'date',
  Goal: 'start-date',
  ImagingStudy: 'started',
  Immunization: 'date',
  ImmunizationEvaluation: 'date',
  ImmunizationRecommendation: 'date',
  Invoice: 'date',
  List: 'date',
  MeasureReport: 'date',
  Media: 'created',
  MedicationAdministration: 'effective-time',
  MedicationDispense: 'whenhandedover',
  MedicationRequest: 'authoredon',
  MedicationStatement: 'effective',
  NutritionOrder: 'datetime',
  Observation: 'date',
  Procedure: 'date',
  Provenance: 'recorded',
  QuestionnaireResponse: 'authored',
  RequestGroup: 'authored',
  RiskAssessment: 'date',
  ServiceRequest: 'authored',
  Specimen: 'collected',
  SupplyRequest: 'date',
  VisionPrescription: 'datewritten',
};
