import type { TenantId } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import type { AccessPolicy, RoleDefinition } from './access-policy.js';

/** Roles and their policies, stored per tenant (table access_role). */
export interface RoleStore {
  list(tenant: TenantId): Promise<RoleDefinition[]>;
  get(tenant: TenantId, name: string): Promise<RoleDefinition | undefined>;
  put(tenant: TenantId, role: RoleDefinition, actor: string): Promise<{ created: boolean }>;
  remove(tenant: TenantId, name: string): Promise<boolean>;
}

interface Row {
  name: string;
  definition: { policies?: AccessPolicy[]; breakGlass?: boolean; approver?: boolean };
}

const toRole = (r: Row): RoleDefinition => ({
  name: r.name,
  policies: r.definition.policies ?? [],
  breakGlass: r.definition.breakGlass === true,
  approver: r.definition.approver === true,
});

export function createRoleStore(db: Queryable): RoleStore {
  return {
    async list(tenant) {
      const res = await db.query<Row>('SELECT name, definition FROM access_role WHERE tenant_id = $1 ORDER BY name', [tenant]);
      return res.rows.map(toRole);
    },
    async get(tenant, name) {
      const res = await db.query<Row>('SELECT name, definition FROM access_role WHERE tenant_id = $1 AND name = $2', [tenant, name]);
      return res.rows[0] ? toRole(res.rows[0]) : undefined;
    },
    async put(tenant, role, actor) {
      const definition = { policies: role.policies, breakGlass: role.breakGlass, approver: role.approver };
      const res = await db.query<{ created: boolean }>(
        `INSERT INTO access_role (tenant_id, name, definition, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, name) DO UPDATE SET definition = EXCLUDED.definition, updated_by = EXCLUDED.updated_by, updated_at = now()
         RETURNING (xmax = 0) AS created`,
        [tenant, role.name, JSON.stringify(definition), actor],
      );
      return { created: res.rows[0]?.created === true };
    },
    async remove(tenant, name) {
      const res = await db.query('DELETE FROM access_role WHERE tenant_id = $1 AND name = $2', [tenant, name]);
      return (res.rowCount ?? 0) > 0;
    },
  };
}
