// The bench's report: rows of (figure, value, baseline, ratio) printed as a table and written to
// bench.json, and the latency summaries the rows are made of.

export type Row = {
  section: string;
  figure: string;
  value: number | null;
  unit: string;
  /** The figure this one is compared with; ratio = value / baseline.value. */
  baseline?: { label: string; value: number | null; unit: string };
  note?: string;
};

export class Report {
  rows: Row[] = [];
  /** Raw per-section details for bench.json (samples summaries, outcome counts, commands). */
  details: Record<string, unknown> = {};

  add(row: Row) {
    this.rows.push(row);
  }

  ratio(row: Row): number | null {
    const b = row.baseline?.value;
    if (row.value === null || b === null || b === undefined || b === 0) return null;
    return row.value / b;
  }

  table(): string {
    const fmt = (v: number | null | undefined, unit: string) =>
      v === null || v === undefined || !Number.isFinite(v) ? "n/a" : `${fmtNum(v)} ${unit}`.trim();
    const header = ["section", "figure", "value", "baseline", "ratio"];
    const lines = this.rows.map((r) => [
      r.section,
      r.figure + (r.note ? ` (${r.note})` : ""),
      fmt(r.value, r.unit),
      r.baseline ? `${fmt(r.baseline.value, r.baseline.unit)}  [${r.baseline.label}]` : "",
      r.baseline ? (this.ratio(r) === null ? "n/a" : `${this.ratio(r)!.toFixed(2)}x`) : "",
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
    return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(line)].join("\n");
  }

  toJSON() {
    return { rows: this.rows.map((r) => ({ ...r, ratio: this.ratio(r) })), details: this.details };
  }
}

function fmtNum(v: number): string {
  if (Number.isInteger(v)) return String(v);
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function summarize(samplesMs: number[]) {
  const s = [...samplesMs].sort((a, b) => a - b);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : null;
  return {
    count: s.length,
    mean,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s.length ? s[s.length - 1] : null,
  };
}
