import type { SessionStore } from '../auth/sessions.js';
import type { UserStore } from '../auth/users.js';
import type { Clock, TenantId } from '../kernel/index.js';

/** Paths of the signed-in user's own pages (authenticated by the sign-in session cookie), which link to each other. */
export const ACCOUNT_PAGE = '/auth/account';
export const RECOVERY_CODES_PAGE = '/auth/account/recovery-codes';

/** What every signed-in user's page needs: whose session, and how links are built. */
export interface AccountPageBaseDeps {
  tenant: TenantId;
  clock: Clock;
  sessions: Pick<SessionStore, 'load'>;
  users: Pick<UserStore, 'get'>;
  /** The tenant requires MFA of every user (tenant-settings.ts); absent: admin roles and enrolled users only. */
  mfaRequired?(tenant: TenantId): Promise<boolean>;
  /** The path of HAVEN_BASE_URL ('' at the root): links and form actions carry it. */
  basePath?: string;
}
