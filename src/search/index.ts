/**
 * Search: FHIR search parameters parsed into a typed query and compiled to
 * one SQL statement per page (plus optional count / estimate statements).
 */
export { parseSearch } from './parse.js';
export type { ParseOptions } from './parse.js';
export { linkedTypes, permittedLinks } from './parse-link.js';
export { compileSearch, compileCount, compileEstimate, readEstimate } from './compile.js';
export type { CompiledSql, CompileOptions, SearchRow } from './compile.js';
export { compileHasLastEstimate, readHasLastChoice } from './has-last.js';
export { hasValueFreePlan, type CommonTargets } from './plan-stability.js';
export type {
  Criterion,
  CriterionKind,
  DateValue,
  IndexKind,
  MissingValue,
  Modifier,
  NumberValue,
  Prefix,
  QuantityValue,
  ReferenceValue,
  SearchQuery,
  SearchValue,
  SortKey,
  StringValue,
  SummaryMode,
  TextValue,
  TokenValue,
  TotalMode,
  UriValue,
  ValueSetValue,
} from './query.js';
export { expandIncludeWildcard, parseInclude, isIncludeParam } from './include-parse.js';
export type { IncludeSpec } from './include-parse.js';
export { compileIncludeRound } from './include-compile.js';
export type { IncludeRoundOptions } from './include-compile.js';
export type { CompartmentFilter, CompartmentLimit } from './compartment.js';
export { blindQuery, protectedRefusal, BLIND_PREFIX_MAX, BLIND_PREFIX_MIN, type QueryTagger } from './blind-query.js';
export { parseProtectedParams, invalidProtectedEntries, blindDomain, blindCover, DEFAULT_PROTECTED, type ProtectedParams } from './protected-params.js';
export { takeSpecialParams } from './system-params.js';
export type { SpecialParams } from './system-params.js';
export { compileSystemSearch, compileSystemCount } from './system-compile.js';
export { checkContainedQuery, compileContainedCount, compileContainedSearch } from './compile-contained.js';
export type { ContainedMatchRow, ContainedSearch } from './compile-contained.js';
export type { ContainedMode, ContainedType } from './system-params.js';
