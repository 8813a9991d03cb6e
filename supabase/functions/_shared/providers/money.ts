// Stripe's minor units (cents) as decimal strings and as display amounts, without floating-point sums.
const ZERO_DECIMAL = new Set("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split(" "));
const THREE_DECIMAL = new Set("BHD JOD KWD OMR TND".split(" "));

/** Digits after the decimal point in Stripe's minor units of `currency`. */
export function currencyExponent(currency: string): number {
  const c = currency.toUpperCase();
  return ZERO_DECIMAL.has(c) ? 0 : THREE_DECIMAL.has(c) ? 3 : 2;
}

/** Stripe minor units -> a decimal amount: 1999 USD -> "19.99", 500 JPY -> "500", 1234 KWD -> "1.234". */
export function formatMinorUnits(amount: number, currency: string): string {
  const exp = currencyExponent(currency);
  if (exp === 0) return String(amount);
  const digits = String(amount).padStart(exp + 1, "0");
  return `${digits.slice(0, -exp)}.${digits.slice(-exp)}`;
}

/** For people: 1999 usd -> "$19.99", 500 jpy -> "¥500", 1999 eur -> "€19.99" (en-US conventions). */
export function formatMoney(amount: number, currency: string): string {
  const exp = currencyExponent(currency);
  return new Intl.NumberFormat("en-US", {
    style: "currency",
    currency: currency.toUpperCase(),
    minimumFractionDigits: exp,
    maximumFractionDigits: exp,
  }).format(Number(formatMinorUnits(amount, currency)));
}
