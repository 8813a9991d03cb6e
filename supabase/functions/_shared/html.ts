// The one HTML escaper: email bodies (notify), HubSpot note bodies (crm) and the dashboard's page.

/** Escapes text for HTML content and attribute values (&, <, >, " and '). */
export function escapeHtml(value: unknown): string {
  return String(value ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}
