/** A one-line progress display on stderr (plain lines when not a terminal). */
export function createProgress(label: string, total?: number) {
  const started = Date.now();
  let last = 0;
  const tty = process.stderr.isTTY;
  function render(done: number, extra: string, force = false): void {
    const now = Date.now();
    if (!force && now - last < (tty ? 200 : 5000)) return;
    last = now;
    const secs = (now - started) / 1000;
    const rate = secs > 0 ? Math.round(done / secs) : 0;
    const pct = total ? ` ${((100 * done) / total).toFixed(1)}%` : '';
    const bar = total && tty ? ` [${'#'.repeat(Math.round((20 * done) / total)).padEnd(20, '.')}]` : '';
    const line = `${label}${bar}${pct} ${done}${total ? `/${total}` : ''} (${rate}/s) ${extra}`;
    process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  }
  return {
    update: (done: number, extra = '') => render(done, extra),
    finish(done: number, extra = ''): void {
      render(done, extra, true);
      if (tty) process.stderr.write('\n');
    },
  };
}
