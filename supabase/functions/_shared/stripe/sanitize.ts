// Makes a verified raw body storable as jsonb: Postgres refuses the JSON escape \u0000 (NUL), which
// a customer can type into a name or a Checkout custom field, and Stripe would redeliver such an
// event for three days without it ever reaching the ledger. Each \u0000 escape becomes \uFFFD.

// a backslash that is not itself escaped (preceded by an even number of backslashes), then u0000;
// `\\u0000` in the JSON text is an escaped backslash followed by the letters u0000, and stays
const NUL_ESCAPE = /(?<!\\)((?:\\\\)*)\\u0000/g;

/** The body with every JSON \u0000 escape replaced by \uFFFD, and how many there were. */
export function sanitizeNulEscapes(body: string): { text: string; replaced: number } {
  if (!body.includes("\\u0000")) return { text: body, replaced: 0 };
  let replaced = 0;
  const text = body.replace(NUL_ESCAPE, (_match, backslashes: string) => {
    replaced++;
    return `${backslashes}\\uFFFD`;
  });
  return { text, replaced };
}
