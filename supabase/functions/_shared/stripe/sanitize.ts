// Makes a verified raw body storable as jsonb. Postgres refuses two JSON escapes that a customer can
// put into a name or a Checkout custom field: \u0000 (NUL), and a lone UTF-16 surrogate (\ud800 not
// followed by a low surrogate escape, or a low one without its high one); Stripe would redeliver such
// an event for three days without it ever reaching the ledger. Each such escape becomes \uFFFD.

// one escape: a backslash and what it escapes, so that an escaped backslash (`\\`) is consumed whole
// and `\\u0000`, an escaped backslash and the letters u0000, stays; group 1 is a \uXXXX escape's hex
const ESCAPE = /\\(?:u([0-9a-fA-F]{4})|[^u])/g;
// a low surrogate's escape, right where a high one's ends
const LOW_SURROGATE_ESCAPE = /\\u[dD][c-fC-F][0-9a-fA-F]{2}/y;
// a cheap test that there may be anything to replace: a NUL or any surrogate escape
const MAYBE = /\\u(?:0000|[dD][89a-fA-F])/;

/** The body with every JSON \u0000 escape and every lone surrogate escape replaced by \uFFFD, and how
 * many there were. Surrogate pairs (an emoji written as two escapes) stay. */
export function sanitizeJsonEscapes(body: string): { text: string; replaced: number } {
  if (!MAYBE.test(body)) return { text: body, replaced: 0 };
  let replaced = 0;
  // where the low half of the last pair starts: that escape is no lone surrogate
  let pairedLowAt = -1;
  const text = body.replace(ESCAPE, (escape: string, hex: string | undefined, offset: number) => {
    if (hex === undefined) return escape;
    const unit = parseInt(hex, 16);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      LOW_SURROGATE_ESCAPE.lastIndex = offset + escape.length;
      if (LOW_SURROGATE_ESCAPE.test(body)) {
        pairedLowAt = offset + escape.length;
        return escape;
      }
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      if (offset === pairedLowAt) return escape;
    } else if (unit !== 0) {
      return escape;
    }
    replaced++;
    return "\\uFFFD";
  });
  return { text, replaced };
}
