/**
 * Feature flags and switches: the pure part (issue #9 items 5–6). No IO.
 *
 * A FLAG has a value per scope: `*` (every role) and optionally per role (`gateway`, `field`,
 * …); the role's own scope wins over `*`. A value is `on`, `off` or a percentage of users
 * (`12.5%`, resolution 0.01 %). A user is in the percentage when its stable bucket
 * `bucketOf(flag, userId)` ∈ [0, 10000) is below the percentage in basis points, so:
 * - the same (flag, user) always gets the same answer (no state, no randomness);
 * - raising the percentage never disables a user that had the feature (monotone);
 * - different flags pick independent user sets (the flag name is hashed in).
 * Without a user (before login) only `on` counts as enabled.
 *
 * A SWITCH (`opsctl event shop off|on`) is an operator kill switch for a feature: a feature
 * whose switch is off is disabled for everyone, whatever its flag says.
 *
 * Effective features for a client (`featuresFor`): every built-in feature of the process and
 * every flagged feature, each kept when its switch is not off and (when it has a flag) the
 * flag evaluates to true for (user, role).
 */
import { hash32 } from "../hash.js";
export { hash32 };
import { z } from "zod";

/** Flag and switch names: lower-case identifiers, also used in the wire `features` list. */
export const FLAG_NAME = /^[a-z][a-z0-9_.-]{0,47}$/;
/** Scopes of a flag rule: `*` or a role name. */
export const FLAG_SCOPE = /^(\*|[a-z]{1,24})$/;
/** A flag value as stored and typed: `on`, `off` or `<0..100>%` with at most two decimals. */
export const FLAG_VALUE = /^(on|off|(100|[0-9]{1,2})(\.[0-9]{1,2})?%)$/;

export const FlagNameSchema = z.string().regex(FLAG_NAME, "flag names are lower-case [a-z0-9_.-], starting with a letter, ≤ 48 chars");
export const FlagScopeSchema = z.string().regex(FLAG_SCOPE, "* or a role name");
export const FlagValueSchema = z
  .string()
  .regex(FLAG_VALUE, "on, off or a percentage such as 10%")
  .refine((v) => flagBasisPoints(v) <= 10_000, "at most 100%");

/** Rules of one flag: scope (`*` or role) → value. */
export type FlagRules = Readonly<Record<string, string>>;

/** The whole durable ops state as processes hold it. */
export interface OpsSnapshot {
  /** Switch name → enabled (absent = on). */
  switches: Record<string, boolean>;
  /** Flag name → rules. */
  flags: Record<string, Record<string, string>>;
}

export function emptySnapshot(): OpsSnapshot {
  return { switches: {}, flags: {} };
}

/** `on` → 10000, `off` → 0, `12.5%` → 1250. Throws on anything else. */
export function flagBasisPoints(value: string): number {
  if (value === "on") return 10_000;
  if (value === "off") return 0;
  const m = /^(\d{1,3})(?:\.(\d{1,2}))?%$/.exec(value);
  if (!m) throw new Error(`not a flag value: ${JSON.stringify(value)}`);
  return Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
}

/** Normalise what an operator typed (`ON`, `10`, `10%`, ` 5.5 % `) to a stored value; undefined when invalid. */
export function parseFlagValue(input: string): string | undefined {
  const s = input.trim().toLowerCase().replace(/\s+/g, "");
  if (s === "on" || s === "true" || s === "1") return "on";
  if (s === "off" || s === "false" || s === "0") return "off";
  const v = s.endsWith("%") ? s : `${s}%`;
  if (!FLAG_VALUE.test(v)) return undefined;
  const bp = flagBasisPoints(v);
  if (bp > 10_000) return undefined;
  if (bp === 0) return "off";
  if (bp === 10_000) return "on";
  return `${bp / 100}%`;
}


/** The user's stable bucket for a flag, in [0, 10000). */
export function bucketOf(flag: string, userId: number): number {
  return hash32(`${flag}:${userId}`) % 10_000;
}

/** The value that applies to `role`: its own rule, else `*`, else undefined (no rule). */
export function ruleFor(rules: FlagRules, role: string): string | undefined {
  return rules[role] ?? rules["*"];
}

/**
 * Is flag `name` with `rules` enabled for `userId` in a process of `role`? Pure and stable.
 * No applicable rule → false. Without a user only `on` is enabled.
 */
export function evaluateFlag(name: string, rules: FlagRules, userId: number | undefined, role: string): boolean {
  const v = ruleFor(rules, role);
  if (v === undefined) return false;
  const bp = flagBasisPoints(v);
  if (bp >= 10_000) return true;
  if (bp <= 0 || userId === undefined) return false;
  return bucketOf(name, userId) < bp;
}

/** Is `feature` enabled for (user, role) given the built-in features of the process? */
export function featureEnabled(state: OpsSnapshot, builtin: readonly string[], feature: string, userId: number | undefined, role: string): boolean {
  if (state.switches[feature] === false) return false;
  const rules = state.flags[feature];
  if (rules && ruleFor(rules, role) !== undefined) return evaluateFlag(feature, rules, userId, role);
  return builtin.includes(feature);
}

/** The sorted list of features enabled for (user, role): built-ins and flagged features (see the file comment). */
export function featuresFor(state: OpsSnapshot, builtin: readonly string[], userId: number | undefined, role: string): string[] {
  const names = new Set<string>([...builtin, ...Object.keys(state.flags)]);
  return [...names].filter((f) => featureEnabled(state, builtin, f, userId, role)).sort();
}

/** Same members (both sorted lists)? */
export function sameFeatures(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
