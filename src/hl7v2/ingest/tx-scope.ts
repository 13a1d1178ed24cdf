import { AsyncLocalStorage } from 'node:async_hooks';
import type { Db, ResourceStore, StoreTransaction } from '../../store/index.js';
import type { TxHooks } from './types.js';

/**
 * Lets the ingester run its own statements inside the database transaction of
 * a transaction Bundle without the Bundle processor knowing: the composition
 * root gives the resource store this wrapped Db; `run(hooks, work)` makes the
 * next transaction begun inside `work` call `hooks.before` first and
 * `hooks.after` last, before COMMIT. Outside `run` it is the plain Db.
 */
export interface TxScope {
  db: Db;
  /** The resource store over `db`, wrapped so `hooks.after` also gets the Bundle's StoreTransaction. */
  wrapStore(store: ResourceStore): ResourceStore;
  run<T>(hooks: TxHooks, work: () => Promise<T>): Promise<T>;
}

interface Scope {
  hooks: TxHooks;
  used: boolean;
  stx?: StoreTransaction;
}

export function createTxScope(db: Db): TxScope {
  const als = new AsyncLocalStorage<Scope>();
  const wrapped: Db = {
    pool: db.pool,
    query: (sql, params) => db.query(sql, params),
    ping: () => db.ping(),
    close: () => db.close(),
    control: db.control,
    transaction(work) {
      const scope = als.getStore();
      if (!scope || scope.used) return db.transaction(work);
      scope.used = true; // one Bundle, one transaction: nested or later ones are plain
      return db.transaction(async (tx) => {
        await scope.hooks.before(tx);
        const result = await work(tx);
        await scope.hooks.after(tx, scope.stx);
        return result;
      });
    },
  };
  return {
    db: wrapped,
    wrapStore(store) {
      return {
        ...store,
        transaction(ctx, work) {
          return store.transaction(ctx, (stx) => {
            const scope = als.getStore();
            if (scope && !scope.stx) scope.stx = stx;
            return work(stx);
          });
        },
      };
    },
    run: (hooks, work) => als.run({ hooks, used: false }, work),
  };
}
