// Minimal typings for the parts of oidc-provider (no bundled types) the federation test uses.
declare module 'oidc-provider' {
  import type { Server } from 'node:http';
  interface Account {
    accountId: string;
    claims(): Promise<Record<string, unknown>> | Record<string, unknown>;
  }
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown> & { findAccount?: (ctx: unknown, id: string) => Promise<Account> });
    listen(port: number): Server;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }
}
