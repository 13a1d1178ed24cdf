/** Paths of the signed-in user's own pages (authenticated by the sign-in session cookie), which link to each other. */
export const ACCOUNT_PAGE = '/auth/account';
export const RECOVERY_CODES_PAGE = '/auth/account/recovery-codes';
