import type { DisclosureAccess, DisclosureReport } from './disclosures.js';

/** The report formats a compliance officer asks for: JSON for tools, CSV for spreadsheets, HTML to read or print. */
export type DisclosureFormat = 'json' | 'csv' | 'html';

export const DISCLOSURE_MEDIA: Record<DisclosureFormat, string> = {
  json: 'application/json; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  html: 'text/html; charset=utf-8',
};

export function renderDisclosures(report: DisclosureReport, format: DisclosureFormat): string {
  switch (format) {
    case 'json':
      return JSON.stringify(report, null, 2);
    case 'csv':
      return toCsv(report);
    case 'html':
      return toHtml(report);
  }
}

const COLUMNS = ['recorded_at', 'action', 'recipient_client', 'recipient_subject', 'recipient_kind', 'on_behalf_of', 'purpose_of_use', 'resources', 'source_ip', 'request_id', 'audit_entry_id', 'log_seq'];

function row(a: DisclosureAccess): string[] {
  return [
    a.recordedAt,
    a.action,
    a.recipient.clientId,
    a.recipient.subject,
    a.recipient.kind,
    a.recipient.onBehalfOf ?? '',
    a.purposeOfUse ?? '',
    a.resources.join(' ') + (a.detailsUnavailable ? ` (details unavailable: ${a.detailsUnavailable})` : ''),
    a.sourceIp ?? '',
    a.requestId,
    a.auditEntryId,
    a.seq ?? '',
  ];
}

/** RFC 4180 quoting; a leading formula character is neutralised so a spreadsheet never evaluates a cell. */
function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function toCsv(report: DisclosureReport): string {
  const lines = [COLUMNS.join(','), ...report.accesses.map((a) => row(a).map(csvCell).join(','))];
  return `${lines.join('\r\n')}\r\n`;
}

function esc(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function toHtml(report: DisclosureReport): string {
  const recipients = report.recipients
    .map((r) => `<tr><td>${esc(r.clientId)}</td><td>${esc(r.subject)}</td><td>${esc(r.kind)}</td><td>${r.accesses}</td><td>${esc(r.first)}</td><td>${esc(r.last)}</td><td>${esc(r.purposes.join(', '))}</td></tr>`)
    .join('\n');
  const accesses = report.accesses.map((a) => `<tr>${row(a).map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Accounting of disclosures: ${esc(report.patient)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;margin-bottom:2rem}th,td{border:1px solid #999;padding:.25rem .5rem;text-align:left;font-size:.85rem}caption{text-align:left;font-weight:bold;margin-bottom:.5rem}</style>
</head><body>
<h1>Accounting of disclosures</h1>
<p>Patient <strong>${esc(report.patient)}</strong> (tenant ${esc(report.tenant)}), period ${esc(report.period.start)} to ${esc(report.period.end)}, generated ${esc(report.generatedAt)} from Haven's tamper-evident audit log. ${report.accesses.length} accesses by ${report.recipients.length} recipients.</p>${report.coverage ? `
<p><strong>Complete from ${esc(report.coverage.completeFrom)}.</strong> Audit entries recorded before then were archived and removed from the database (retention); accesses before that date are listed only in the audit archive.</p>` : ''}
<table><caption>Recipients</caption><thead><tr><th scope="col">Client application</th><th scope="col">User or client</th><th scope="col">Kind</th><th scope="col">Accesses</th><th scope="col">First</th><th scope="col">Last</th><th scope="col">Purposes of use</th></tr></thead>
<tbody>
${recipients}
</tbody></table>
<table><caption>Accesses</caption><thead><tr>${COLUMNS.map((c) => `<th scope="col">${c.replace(/_/g, ' ')}</th>`).join('')}</tr></thead>
<tbody>
${accesses}
</tbody></table>
</body></html>
`;
}
