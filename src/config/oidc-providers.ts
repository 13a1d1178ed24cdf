import { z } from 'zod';

/**
 * `HAVEN_OIDC_PROVIDERS`: several external OpenID providers as one JSON array,
 * e.g. the workforce Entra ID and an affiliate's Okta:
 *
 *   [{"id":"entra","name":"Contoso staff","issuer":"https://login.microsoftonline.com/<tenant>/v2.0",
 *     "clientId":"…","clientSecret":"…","rolesClaim":"roles","roleMap":{"Haven.Clinician":"clinician"}}, …]
 *
 * Checked in full at start; every problem is reported with the provider's
 * position and member, so a typo never leaves a provider silently half-set.
 */
export interface OidcProviderConfig {
  /** Lower-case name: picks the provider on the sign-in page; its callback is `/auth/federated/<id>/callback`. */
  id: string;
  /** Label of its "Sign in with …" button. */
  name: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** id_token claim with the provider's groups or roles. */
  rolesClaim: string;
  /** Provider group → Haven role. */
  roleMap: Record<string, string>;
}

export const PROVIDER_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;
const HAVEN_ROLE = /^[a-z][a-z0-9-]{0,63}$/;

/** `{"group": "role"}`, or the single-provider form `group=role,…`. */
const roleMap = z.union([z.record(z.string().min(1), z.string()), z.string()]).transform((value, ctx) => {
  const entries: Array<[string, string]> = [];
  if (typeof value === 'string') {
    for (const pair of value.split(',').map((p) => p.trim()).filter(Boolean)) {
      const [group, role, extra] = pair.split('=').map((x) => x.trim());
      if (!group || !role || extra !== undefined) ctx.addIssue({ code: 'custom', message: `entry "${pair}" must be group=role` });
      else entries.push([group, role]);
    }
  } else {
    entries.push(...Object.entries(value));
  }
  for (const [group, role] of entries) {
    if (!HAVEN_ROLE.test(role)) ctx.addIssue({ code: 'custom', message: `"${group}" maps to "${role}", which is not a Haven role name ([a-z][a-z0-9-]*)` });
  }
  if (entries.length === 0) ctx.addIssue({ code: 'custom', message: 'must map at least one group to a Haven role' });
  return Object.fromEntries(entries);
});

const provider = z.strictObject({
  id: z.string().regex(PROVIDER_ID, 'must be lower-case letters, digits and hyphens (at most 32)'),
  name: z.string().min(1).max(64),
  issuer: z.url(),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  rolesClaim: z.string().min(1).default('groups'),
  roleMap,
});

const providerList = z.array(provider).min(1, 'must name at least one provider');

/** Parses and checks the JSON text; problems go to `ctx` as one message each, naming provider and member. */
export const oidcProviders = z
  .string()
  .transform((text, ctx): OidcProviderConfig[] => {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array of {id, name, issuer, clientId, clientSecret, rolesClaim?, roleMap} (not valid JSON)' });
      return z.NEVER;
    }
    const parsed = providerList.safeParse(json);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const [index, ...member] = issue.path;
        const where = typeof index === 'number' ? `provider ${index + 1}${member.length ? ` ${member.join('.')}` : ''}: ` : '';
        ctx.addIssue({ code: 'custom', message: `${where}${issue.message}` });
      }
      return z.NEVER;
    }
    const seen = { id: new Set<string>(), issuer: new Set<string>() };
    parsed.data.forEach((p, i) => {
      // Users are keyed by (issuer, sub): two entries for one issuer would share users under two role maps.
      for (const key of ['id', 'issuer'] as const) {
        if (seen[key].has(p[key])) ctx.addIssue({ code: 'custom', message: `provider ${i + 1} ${key}: "${p[key]}" is used by an earlier provider` });
        seen[key].add(p[key]);
      }
    });
    return parsed.data;
  })
  .optional();
