/**
 * Channel metrics in memory, rendered in the Prometheus text format
 * (exposition format 0.0.4). Labels are channel names and ACK codes only:
 * nothing from a message reaches a label.
 */
export type Counter = 'received' | 'acked' | 'failed' | 'rejected' | 'duplicates' | 'replayed' | 'stale_updates';

const HELP: Record<Counter, string> = {
  received: 'HL7 v2 messages received (framed and read, before parsing)',
  acked: 'Acknowledgments sent, by MSA-1 code',
  failed: 'Messages that parsed but could not be processed (dead letter)',
  rejected: 'Malformed or oversized messages rejected (AR)',
  duplicates: 'Messages whose sender and MSH-10 were already stored (answered with the original ACK)',
  replayed: 'Dead-letter messages reprocessed',
  stale_updates: 'Resource updates not applied because a newer message (MSH-7) had already updated the resource',
};

// Seconds; ACK latency from the last byte of the frame to the ACK being written.
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

export interface Hl7Metrics {
  inc(counter: Counter, channel: string, code?: string): void;
  observeAck(channel: string, seconds: number): void;
  /** Current value (tests, bench). */
  value(counter: Counter, channel: string, code?: string): number;
  render(): string;
}

const key = (channel: string, code?: string) => (code ? `${channel}\u0000${code}` : channel);

export function createHl7Metrics(): Hl7Metrics {
  const counters = new Map<Counter, Map<string, number>>();
  const latency = new Map<string, Histogram>();
  return {
    inc(counter, channel, code) {
      let m = counters.get(counter);
      if (!m) counters.set(counter, (m = new Map()));
      const k = key(channel, code);
      m.set(k, (m.get(k) ?? 0) + 1);
    },
    observeAck(channel, seconds) {
      let h = latency.get(channel);
      if (!h) latency.set(channel, (h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }));
      BUCKETS.forEach((b, i) => {
        if (seconds <= b) h.counts[i]! += 1;
      });
      h.sum += seconds;
      h.count += 1;
    },
    value(counter, channel, code) {
      return counters.get(counter)?.get(key(channel, code)) ?? 0;
    },
    render() {
      const lines: string[] = [];
      for (const name of Object.keys(HELP) as Counter[]) {
        const metric = `haven_hl7v2_${name}_total`;
        lines.push(`# HELP ${metric} ${HELP[name]}`, `# TYPE ${metric} counter`);
        for (const [k, v] of counters.get(name) ?? []) {
          const [channel, code] = k.split('\u0000');
          lines.push(`${metric}{channel="${channel}"${code ? `,code="${code}"` : ''}} ${v}`);
        }
      }
      const h = 'haven_hl7v2_ack_latency_seconds';
      lines.push(`# HELP ${h} Time from receiving a message to sending its acknowledgment`, `# TYPE ${h} histogram`);
      for (const [channel, hist] of latency) {
        BUCKETS.forEach((b, i) => lines.push(`${h}_bucket{channel="${channel}",le="${b}"} ${hist.counts[i]}`));
        lines.push(`${h}_bucket{channel="${channel}",le="+Inf"} ${hist.count}`);
        lines.push(`${h}_sum{channel="${channel}"} ${hist.sum}`, `${h}_count{channel="${channel}"} ${hist.count}`);
      }
      return `${lines.join('\n')}\n`;
    },
  };
}
